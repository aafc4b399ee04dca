#!/usr/bin/env node
// Independent OpenID *client* (relying party) for Procura's integration tests:
// panva's `openid-client` driven through a line protocol, so that Rust tests
// can check Procura's OpenID provider against a real, certified client.
//
//   node tests/interop/rp-client.mjs --issuer http://127.0.0.1:PORT \
//        --client-id ID [--client-secret S] --redirect-uri URI \
//        [--auth-method client_secret_basic|client_secret_post|none] \
//        [--id-token-alg ES256|RS256|HS256|...] [--userinfo-alg ES256|RS256]
//
// Reads one JSON command per line on stdin, writes exactly one JSON line per
// command on stdout (nothing else there; diagnostics go to stderr), in order.
// Exits (status 0) when stdin closes. See README.md beside this file.

import * as crypto from 'node:crypto';
import { commandLine, consoleToStderr } from './common.mjs';

// stdout carries the protocol only: whatever a library might print goes to
// stderr.
consoleToStderr();

const client = await import('openid-client');
// `jose` is the copy hoisted to tests/interop/node_modules (a dependency of
// oidc-provider); openid-client's own copy is private to it.
const jose = await import('jose');

// ---------------------------------------------------------------- arguments

const { args, usage, log } = commandLine(
  'rp-client',
  '--issuer URL --client-id ID [--client-secret S] '
  + '--redirect-uri URI [--auth-method client_secret_basic|client_secret_post|none] '
  + '[--id-token-alg ALG] [--userinfo-alg ALG]',
  {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'auth-method': { type: 'string' },
    'id-token-alg': { type: 'string' },
    'userinfo-alg': { type: 'string' },
  },
);

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'];
const issuerArg = args.issuer;
const clientId = args['client-id'];
const clientSecret = args['client-secret'];
const redirectUri = args['redirect-uri'];
const authMethod = args['auth-method'] ?? (clientSecret ? 'client_secret_basic' : 'none');
const idTokenAlg = args['id-token-alg'];
// With it, userinfo must answer a JWT signed with this alg (openid-client checks the
// signature against jwks_uri, as for the ID token).
const userinfoAlg = args['userinfo-alg'];
const verbose = args.verbose;

if (!issuerArg) usage('--issuer is required');
if (!clientId) usage('--client-id is required');
if (!redirectUri) usage('--redirect-uri is required');
if (!AUTH_METHODS.includes(authMethod)) usage(`unsupported --auth-method ${authMethod}`);
if (authMethod !== 'none' && !clientSecret) usage(`--auth-method ${authMethod} needs --client-secret`);
if (idTokenAlg?.startsWith('HS') && !clientSecret) usage(`--id-token-alg ${idTokenAlg} needs --client-secret (the HMAC key)`);
let issuerUrl;
try {
  issuerUrl = new URL(issuerArg);
  new URL(redirectUri); // eslint-disable-line no-new
} catch (err) {
  usage(err.message);
}

// ---------------------------------------------------------------- helpers

const b64uJson = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
const jwtHeader = (jwt) => b64uJson(String(jwt).split('.')[0]);

// RFC 6749 2.3.1: client_id and client_secret are form-urlencoded before
// being put in the Basic credentials (exactly as openid-client does).
function formUrlEncode(token) {
  return encodeURIComponent(token)
    .replace(/%20/g, '+')
    .replace(/[-_.!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function clientAuth(method, secret) {
  switch (method) {
    case 'client_secret_basic': return client.ClientSecretBasic(secret);
    case 'client_secret_post': return client.ClientSecretPost(secret);
    default: return client.None();
  }
}

// Hash for at_hash / c_hash (OIDC Core 3.1.3.6): the hash of the JWS alg.
function hashOfAlg(alg, crv) {
  if (/^(?:HS|RS|PS|ES)256$/.test(alg)) return 'sha256';
  if (/^(?:HS|RS|PS|ES)384$/.test(alg)) return 'sha384';
  if (/^(?:HS|RS|PS|ES)512$/.test(alg)) return 'sha512';
  if (alg === 'Ed25519' || (alg === 'EdDSA' && (crv === undefined || crv === 'Ed25519'))) return 'sha512';
  return undefined;
}

function leftHalfHash(value, alg, crv) {
  const hash = hashOfAlg(alg, crv);
  if (!hash) return undefined;
  const digest = crypto.createHash(hash).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

class RpError extends Error {
  constructor(error, description, extra = {}) {
    super(description);
    this.name = 'RpError';
    this.error = error;
    this.error_description = description;
    Object.assign(this, extra);
  }
}

// Any exception as a protocol answer: {"ok": false, "error", "error_description", ...}.
function errorAnswer(err, extra = {}) {
  const out = { ok: false };
  const response = err?.response instanceof Response ? err.response : undefined;
  let challengeError;
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const challenge = Array.isArray(err.cause) ? err.cause[0] : undefined;
    challengeError = challenge?.parameters?.error;
    out.error = challengeError ?? err.name;
    out.error_description = challenge?.parameters?.error_description ?? err.message;
  } else {
    out.error = (typeof err?.error === 'string' && err.error) || err?.name || 'Error';
    let description = err?.error_description;
    if (description === undefined || description === null) {
      description = err?.message ?? String(err);
      if (err?.cause instanceof Error && err.cause.message && err.cause.message !== description) {
        description = `${description}: ${err.cause.message}`;
      }
    }
    out.error_description = description;
  }
  const status = err?.status ?? response?.status;
  if (typeof status === 'number') out.status = status;
  const wwwAuthenticate = response?.headers.get('www-authenticate');
  if (wwwAuthenticate) out.www_authenticate = wwwAuthenticate;
  if (typeof err?.code === 'string') out.code = err.code;
  else if (typeof err?.cause?.code === 'string') out.code = err.cause.code;
  if (typeof err?.cause?.claim === 'string') out.claim = err.cause.claim;
  if (typeof err?.claim === 'string') out.claim = err.claim;
  if (verbose && err?.stack) log(err.stack);
  return { ...out, ...extra };
}

// ---------------------------------------------------------------- state

let config; // openid-client Configuration, from discovery
// authorization requests sent, by state (the most recent one last)
const pending = new Map();
let lastPending;

function newConfiguration(server) {
  const metadata = { client_secret: clientSecret };
  if (idTokenAlg) metadata.id_token_signed_response_alg = idTokenAlg;
  if (userinfoAlg) metadata.userinfo_signed_response_alg = userinfoAlg;
  const cfg = new client.Configuration(server, clientId, metadata, clientAuth(authMethod, clientSecret));
  client.allowInsecureRequests(cfg);
  // openid-client validates the id_token signature only with this (the
  // "non-repudiation" check); it supports asymmetric algorithms only, HMAC
  // ones are checked below with the client secret.
  if (!idTokenAlg?.startsWith('HS')) client.enableNonRepudiationChecks(cfg);
  return cfg;
}

async function discover() {
  const discovered = await client.discovery(issuerUrl, clientId, { client_secret: clientSecret }, undefined, {
    execute: [client.allowInsecureRequests],
  });
  config = newConfiguration(discovered.serverMetadata());
  return config;
}

async function ensureConfig() {
  return config ?? discover();
}

async function fetchJson(url, init) {
  const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(30_000), ...init });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { response, body };
}

// ---------------------------------------------------------------- commands

const commands = {
  async discover() {
    const cfg = await discover();
    return { ok: true, metadata: cfg.serverMetadata() };
  },

  async authorize(cmd) {
    const cfg = await ensureConfig();
    const pkce = cmd.pkce ?? 'S256';
    if (!['S256', 'plain', 'none'].includes(pkce)) {
      throw new RpError('invalid_command', `"pkce" must be "S256", "plain" or "none", not ${JSON.stringify(pkce)}`);
    }
    const state = client.randomState();
    const nonce = cmd.nonce === false ? null : client.randomNonce();
    const codeVerifier = pkce === 'none' ? null : client.randomPKCECodeVerifier();

    const parameters = new URLSearchParams({
      redirect_uri: redirectUri,
      scope: cmd.scope ?? 'openid',
      state,
    });
    if (nonce) parameters.set('nonce', nonce);
    if (pkce === 'S256') {
      parameters.set('code_challenge', await client.calculatePKCECodeChallenge(codeVerifier));
      parameters.set('code_challenge_method', 'S256');
    } else if (pkce === 'plain') {
      // openid-client has no helper for "plain" (it is not forbidden either):
      // the challenge is the verifier itself.
      parameters.set('code_challenge', codeVerifier);
      parameters.set('code_challenge_method', 'plain');
    }
    const extra = cmd.params ?? {};
    if (typeof extra !== 'object' || Array.isArray(extra)) {
      throw new RpError('invalid_command', '"params" must be an object');
    }
    for (const [k, v] of Object.entries(extra)) {
      if (v === null || v === undefined) parameters.delete(k);
      else parameters.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    }

    const url = client.buildAuthorizationUrl(cfg, parameters);
    const maxAge = parameters.has('max_age') ? Number(parameters.get('max_age')) : undefined;
    const scope = parameters.get('scope') ?? '';
    const entry = {
      state,
      nonce,
      codeVerifier,
      maxAge: Number.isFinite(maxAge) ? maxAge : undefined,
      openid: scope.split(' ').includes('openid'),
    };
    pending.set(state, entry);
    lastPending = entry;
    return { ok: true, url: url.href, state, nonce, code_verifier: codeVerifier };
  },

  async callback(cmd) {
    let cfg = await ensureConfig();
    if (typeof cmd.url !== 'string') throw new RpError('invalid_command', '"url" (the callback URL) is required');
    const currentUrl = new URL(cmd.url);
    const entry = pending.get(currentUrl.searchParams.get('state')) ?? lastPending;
    if (!entry) throw new RpError('invalid_command', 'no authorization request was made (send "authorize" first)');
    if (cmd.fresh_jwks === true) cfg = newConfiguration(cfg.serverMetadata());

    const codeVerifier = typeof cmd.code_verifier === 'string' ? cmd.code_verifier : entry.codeVerifier;
    let tokens;
    try {
      // Checks the authorization response (iss per RFC 9207, state, error),
      // sends the code with the PKCE verifier, and checks the ID Token: alg,
      // signature (asymmetric algs, against jwks_uri), iss, aud, azp, exp,
      // iat, sub, nonce, auth_time with max_age.
      tokens = await client.authorizationCodeGrant(cfg, currentUrl, {
        expectedState: entry.state,
        expectedNonce: entry.nonce ?? undefined,
        maxAge: entry.maxAge,
        idTokenExpected: entry.openid,
        pkceCodeVerifier: codeVerifier ?? undefined,
      });
    } catch (err) {
      const answer = errorAnswer(err, { stage: 'authorization_code_grant' });
      if (/unsupported JWS algorithm/.test(answer.error_description)) {
        answer.error_description += ' (openid-client checks asymmetric signatures only: start rp-client with --id-token-alg HS256 for an HMAC-signed ID Token)';
      }
      return answer;
    }

    const out = {
      ok: true,
      id_token_claims: null,
      id_token_header: null,
      userinfo: null,
      access_token: tokens.access_token,
      id_token: tokens.id_token ?? null,
      at_hash_checked: false,
      signature_checked_by: null,
      token_response: { ...tokens },
    };
    const partial = { access_token: out.access_token, id_token: out.id_token, token_response: out.token_response };

    if (tokens.id_token) {
      const header = jwtHeader(tokens.id_token);
      const claims = tokens.claims();
      out.id_token_header = header;
      out.id_token_claims = claims;

      // Signature: openid-client for asymmetric algs (enableNonRepudiationChecks),
      // here for HMAC ones (the key is the client secret).
      if (header.alg?.startsWith('HS')) {
        try {
          await jose.compactVerify(tokens.id_token, new TextEncoder().encode(clientSecret ?? ''), { algorithms: [header.alg] });
        } catch (err) {
          return errorAnswer(err, { stage: 'id_token_signature', ...partial });
        }
        out.signature_checked_by = 'rp-client';
      } else {
        out.signature_checked_by = 'openid-client';
      }

      // at_hash: openid-client does not check it (oauth4webapi checks c_hash
      // and s_hash of hybrid-flow ID Tokens only). OIDC Core 3.1.3.6: optional
      // in the code flow, checked when present.
      if (claims.at_hash !== undefined) {
        const expected = leftHalfHash(tokens.access_token, header.alg, header.crv);
        if (expected === undefined) {
          return errorAnswer(new RpError('invalid_at_hash', `cannot compute at_hash for alg ${header.alg}`), { stage: 'at_hash', ...partial });
        }
        if (claims.at_hash !== expected) {
          return errorAnswer(new RpError('invalid_at_hash', `at_hash ${JSON.stringify(claims.at_hash)} does not match the access token (expected ${expected})`), { stage: 'at_hash', ...partial });
        }
        out.at_hash_checked = true;
      }
    }

    try {
      const sub = out.id_token_claims?.sub;
      out.userinfo = await client.fetchUserInfo(cfg, tokens.access_token, sub ?? client.skipSubjectCheck);
    } catch (err) {
      return errorAnswer(err, { stage: 'userinfo', ...partial });
    }
    return out;
  },

  async userinfo(cmd) {
    const cfg = await ensureConfig();
    if (typeof cmd.access_token !== 'string') throw new RpError('invalid_command', '"access_token" is required');
    const expected = typeof cmd.sub === 'string' ? cmd.sub : client.skipSubjectCheck;
    const userinfo = await client.fetchUserInfo(cfg, cmd.access_token, expected);
    return { ok: true, userinfo };
  },

  async token(cmd) {
    const cfg = await ensureConfig();
    const { token_endpoint: tokenEndpoint } = cfg.serverMetadata();
    const method = cmd.auth_method ?? authMethod;
    if (!AUTH_METHODS.includes(method)) throw new RpError('invalid_command', `unsupported "auth_method" ${method}`);
    const id = cmd.client_id ?? clientId;
    const secret = cmd.client_secret ?? clientSecret ?? '';
    const body = new URLSearchParams({ grant_type: cmd.grant_type ?? 'authorization_code' });
    if (cmd.code !== undefined) body.set('code', String(cmd.code));
    if (cmd.redirect_uri !== null) body.set('redirect_uri', cmd.redirect_uri ?? redirectUri);
    if (typeof cmd.code_verifier === 'string') body.set('code_verifier', cmd.code_verifier);
    const headers = {
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (method === 'client_secret_basic') {
      headers.authorization = `Basic ${Buffer.from(`${formUrlEncode(id)}:${formUrlEncode(secret)}`).toString('base64')}`;
    } else {
      body.set('client_id', id);
      if (method === 'client_secret_post') body.set('client_secret', secret);
    }
    const { response, body: answer } = await fetchJson(tokenEndpoint, { method: 'POST', headers, body });
    const out = { ok: response.status === 200, status: response.status, body: answer };
    const wwwAuthenticate = response.headers.get('www-authenticate');
    if (wwwAuthenticate) out.www_authenticate = wwwAuthenticate;
    return out;
  },

  async verify(cmd) {
    const cfg = await ensureConfig();
    if (typeof cmd.id_token !== 'string') throw new RpError('invalid_command', '"id_token" is required');
    const metadata = cfg.serverMetadata();
    let header;
    try {
      header = jwtHeader(cmd.id_token);
    } catch {
      throw new RpError('invalid_token', 'not a compact JWS');
    }
    let key;
    let jwks;
    if (typeof header.alg === 'string' && header.alg.startsWith('HS')) {
      key = new TextEncoder().encode(clientSecret ?? '');
    } else {
      // fresh, no cache: the provider's JWKS as it is now
      const { response, body } = await fetchJson(metadata.jwks_uri, { headers: { accept: 'application/json' } });
      if (response.status !== 200 || typeof body !== 'object' || !Array.isArray(body?.keys)) {
        throw new RpError('invalid_jwks', `GET ${metadata.jwks_uri} answered ${response.status}`, { status: response.status });
      }
      jwks = body;
      key = jose.createLocalJWKSet(jwks);
    }
    const { payload, protectedHeader } = await jose.jwtVerify(cmd.id_token, key, {
      issuer: metadata.issuer,
      audience: clientId,
      clockTolerance: 30,
    });
    const out = { ok: true, payload, header: protectedHeader };
    if (jwks) out.jwks_kids = jwks.keys.map((k) => k.kid ?? null);
    return out;
  },
};

// ---------------------------------------------------------------- main loop

function write(answer) {
  return new Promise((resolve) => {
    process.stdout.write(`${JSON.stringify(answer)}\n`, () => resolve());
  });
}

async function handle(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: 'invalid_command', error_description: `not JSON: ${err.message}` };
  }
  if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd)) {
    return { ok: false, error: 'invalid_command', error_description: 'a command is a JSON object' };
  }
  const run = Object.hasOwn(commands, cmd.cmd) ? commands[cmd.cmd] : undefined;
  if (!run) {
    return { ok: false, error: 'invalid_command', error_description: `unknown cmd ${JSON.stringify(cmd.cmd)} (discover, authorize, callback, userinfo, token, verify)` };
  }
  const started = Date.now();
  let answer;
  try {
    answer = await run(cmd);
  } catch (err) {
    answer = errorAnswer(err);
  }
  if (verbose) log(`${cmd.cmd} -> ${answer.ok ? 'ok' : answer.error} (${Date.now() - started} ms)`);
  return answer;
}

process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err?.stack ?? err}`));
process.stdout.on('error', () => process.exit(0)); // reader gone

// Commands are split from stdin by hand and answered one at a time, in order. Not with
// `for await` over a readline interface: its async iterator is known to drop lines
// (nodejs/node#28565), and a dropped command is a test that waits for an answer that never
// comes, the intermittent failure this replaced.
let buffered = '';
let queue = Promise.resolve();
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl).replace(/\r$/, '');
    buffered = buffered.slice(nl + 1);
    if (line.trim() === '') continue;
    queue = queue.then(async () => write(await handle(line)));
  }
});
process.stdin.on('end', () => {
  queue.then(() => process.exit(0));
});
