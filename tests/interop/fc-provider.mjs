#!/usr/bin/env node
// FranceConnect stand-in for Procura's integration tests: a real, independent
// OpenID provider (panva's `oidc-provider`) configured like FranceConnect, with
// no human interaction and a small control API under /__test/.
//
//   node tests/interop/fc-provider.mjs --port 0 --client-id ID --client-secret S \
//        --redirect-uri http://127.0.0.1:8080/callback [--alg ES256|RS256|HS256]
//
// Prints exactly one line on stdout once listening: `READY http://127.0.0.1:<port>`.
// Everything else goes to stderr. See README.md beside this file.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { commandLine, consoleToStderr } from './common.mjs';

// oidc-provider prints its notices with console.info (stdout). stdout is
// reserved for the READY line, so route every console output to stderr before
// the library is loaded (hence its dynamic import further down).
consoleToStderr();

// ---------------------------------------------------------------- arguments

const { args, usage, log } = commandLine(
  'fc-provider',
  '--port P --client-id ID --client-secret S '
  + '--redirect-uri URI [--redirect-uri URI2 ...] [--alg ES256|RS256|HS256] '
  + '[--post-logout-redirect-uri URI ...] [--no-end-session]',
  {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    alg: { type: 'string', default: 'ES256' },
    'no-end-session': { type: 'boolean', default: false },
  },
);

const port = Number(args.port ?? '0');
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`invalid --port ${args.port}`);
const clientId = args['client-id'];
const clientSecret = args['client-secret'];
const redirectUris = args['redirect-uri'] ?? [];
const postLogoutRedirectUris = args['post-logout-redirect-uri'] ?? [];
const alg = args.alg.toUpperCase();
// Without end_session (RP-initiated logout), the discovery has no end_session_endpoint.
const endSession = !args['no-end-session'];
if (!clientId) usage('--client-id is required');
if (!clientSecret) usage('--client-secret is required');
if (redirectUris.length === 0) usage('--redirect-uri is required');
if (!['ES256', 'RS256', 'HS256'].includes(alg)) usage(`unsupported --alg ${args.alg}`);
for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
  try {
    new URL(uri); // eslint-disable-line no-new
  } catch {
    usage(`not an absolute URL: ${uri}`);
  }
}

const verbose = args.verbose;

// ---------------------------------------------------------------- test state

const DEFAULT_IDENTITY = Object.freeze({
  sub: 'fc-sub-0001',
  given_name: 'Angela Claire Louise',
  family_name: 'DUBOIS',
  birthdate: '1962-08-24',
  gender: 'female',
  birthplace: '75107',
  birthcountry: '99100',
  email: 'angela.dubois@exemple.fr',
});

const MODES = new Set(['ok', 'deny', 'bad-keys']);

const state = {
  mode: 'ok',
  identity: structuredClone(DEFAULT_IDENTITY),
  // Every identity ever logged in, by sub: tokens issued before an identity
  // change keep resolving to the claims they were issued for (as long as
  // their browser session lives: access tokens expire with the session).
  accounts: new Map([[DEFAULT_IDENTITY.sub, structuredClone(DEFAULT_IDENTITY)]]),
  lastAuthorization: null,
  badJwks: null,
};

// ---------------------------------------------------------------- keys

const kidSuffix = crypto.randomBytes(6).toString('hex');
const KIDS = { ES256: `fc-es256-${kidSuffix}`, RS256: `fc-rs256-${kidSuffix}` };

const generateKeyPair = promisify(crypto.generateKeyPair);

// RSA key generation takes 0.1 to 0.6 s: it runs off the main thread, in
// parallel with loading oidc-provider.
async function generateKeys({ publicOnly }) {
  const [ec, rsa] = await Promise.all([
    generateKeyPair('ec', { namedCurve: 'P-256' }),
    generateKeyPair('rsa', { modulusLength: 2048 }),
  ]);
  const pick = (pair) => (publicOnly ? pair.publicKey : pair.privateKey).export({ format: 'jwk' });
  return [
    { ...pick(ec), kid: KIDS.ES256, use: 'sig', alg: 'ES256' },
    { ...pick(rsa), kid: KIDS.RS256, use: 'sig', alg: 'RS256' },
  ];
}

const [signingKeys, { default: Provider, interactionPolicy }] = await Promise.all([
  generateKeys({ publicOnly: false }),
  import('oidc-provider'),
]);

// ---------------------------------------------------------------- FranceConnect claims

const claimsConfig = {
  // claims without a scope of their own (null) ...
  acr: null,
  auth_time: null,
  iss: null,
  sid: null,
  // ... and scopes with the claims they release
  openid: ['sub'],
  profile: ['given_name', 'family_name', 'birthdate', 'gender', 'preferred_username'],
  email: ['email'],
  birth: ['birthplace', 'birthcountry'],
  identite_pivot: ['given_name', 'family_name', 'birthdate', 'gender', 'birthplace', 'birthcountry'],
  // FranceConnect also has one scope per claim
  given_name: ['given_name'],
  family_name: ['family_name'],
  birthdate: ['birthdate'],
  gender: ['gender'],
  birthplace: ['birthplace'],
  birthcountry: ['birthcountry'],
  preferred_username: ['preferred_username'],
};

// ---------------------------------------------------------------- interaction policy

// Every authorization request goes through the (automatic) interaction, even
// when the browser still has a session: the test identity and the mode are
// therefore always those in force when the request is made.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'fc_always_login',
  'the FranceConnect stand-in authenticates the End-User on every authorization request',
  (ctx) => (ctx.oidc.result?.login
    ? interactionPolicy.Check.NO_NEED_TO_PROMPT
    : interactionPolicy.Check.REQUEST_PROMPT),
));

// ---------------------------------------------------------------- HTTP server

// Listen first (the port may be 0), then build the provider with the real
// issuer, then start handling requests.
let handler = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1');
try {
  await once(server, 'listening');
} catch (err) {
  log(`cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
}
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    // recognised only with RP-initiated logout enabled
    ...(endSession ? { post_logout_redirect_uris: postLogoutRedirectUris } : {}),
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // client_secret_post is accepted too: oidc-provider lets a client
    // registered for either secret method authenticate with the other.
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
    application_type: 'web',
  }],
  jwks: { keys: signingKeys },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // plain http on loopback: no Secure flag, so no SameSite=None either
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: claimsConfig,
  scopes: ['openid'],
  acrValues: ['eidas1'],
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: { methods: ['S256'], required: () => true },
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256', 'RS256', 'HS256'],
  },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    pushedAuthorizationRequests: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: endSession,
      // The End-User confirms the logout by POSTing this form (`xsrf` and
      // `logout=yes`), as with oidc-provider's default page: a relying party's
      // tests follow it like a browser.
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html lang="fr"><head><title>Déconnexion</title></head><body>
<h1>Se déconnecter ?</h1>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Oui, me déconnecter</button>
<button type="submit" form="op.logoutForm">Non, rester connecté</button>
</body></html>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><html><head><title>Déconnecté</title></head><body>Vous êtes déconnecté.</body></html>';
      },
    },
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `${issuer}/interaction/${interaction.uid}`,
  },
  async findAccount(ctx, sub) {
    const identity = state.accounts.get(sub);
    if (!identity) return undefined;
    return {
      accountId: sub,
      // returned as given: no normalisation of dates, empty strings, etc.
      async claims() {
        return structuredClone(identity);
      },
    };
  },
  async renderError(ctx, out, error) {
    ctx.type = 'json';
    ctx.body = out;
    if (error?.status) ctx.status = error.status;
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

for (const event of [
  'server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'end_session.error', 'end_session_confirm.error', 'jwks.error', 'discovery.error',
  'interaction.error',
]) {
  provider.on(event, (ctx, err) => {
    log(`${event}: ${err?.name ?? ''} ${err?.message ?? ''} ${err?.error_description ?? ''}`.trim());
  });
}

// ---------------------------------------------------------------- helpers

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? undefined : JSON.parse(text);
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

const isPlainObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// Claims explicitly requested through the `claims` authorization parameter.
function requestedClaimNames(claimsParam) {
  if (!claimsParam) return [];
  let parsed = claimsParam;
  if (typeof parsed === 'string') {
    try {
      parsed = JSON.parse(parsed);
    } catch {
      return [];
    }
  }
  const names = new Set();
  for (const target of ['id_token', 'userinfo']) {
    if (isPlainObject(parsed?.[target])) Object.keys(parsed[target]).forEach((n) => names.add(n));
  }
  return [...names];
}

const AUTHZ_FIELDS = [
  'client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce',
  'code_challenge', 'code_challenge_method', 'acr_values', 'prompt', 'claims',
];

// ---------------------------------------------------------------- control API & interactions

provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    await route(ctx, next);
  } finally {
    if (verbose) log(`${ctx.method} ${ctx.url} -> ${ctx.status} (${Date.now() - started} ms)`);
  }
});

async function route(ctx, next) {
  const { path, method } = ctx;

  // ---- control API
  if (path.startsWith('/__test/')) {
    try {
      await control(ctx);
    } catch (err) {
      json(ctx, 400, { error: 'invalid_request', error_description: err.message });
    }
    return;
  }

  // ---- automatic login + consent
  const interaction = /^\/interaction\/([^/]+)$/.exec(path);
  if (interaction && method === 'GET') {
    try {
      await finishInteraction(ctx);
    } catch (err) {
      log(`interaction: ${err.name} ${err.message} ${err.error_description ?? ''}`.trim());
      json(ctx, 400, { error: err.error ?? 'invalid_request', error_description: `interaction: ${err.error_description ?? err.message}` });
    }
    return;
  }

  // ---- bad-keys: a different key set under the same kids
  if (path === '/jwks' && method === 'GET' && state.mode === 'bad-keys') {
    state.badJwks ??= await generateKeys({ publicOnly: true });
    ctx.status = 200;
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = JSON.stringify({ keys: state.badJwks });
    return;
  }

  // ---- remember what the relying party sent to the authorization endpoint
  if (path === '/auth' && method === 'GET') {
    state.lastAuthorization = { ...ctx.query };
  }

  await next();

  if (path === '/auth' && method === 'POST' && ctx.oidc?.body) {
    state.lastAuthorization = { ...ctx.oidc.body };
  }
}

async function control(ctx) {
  const { path, method } = ctx;
  if (path === '/__test/mode') {
    if (method === 'GET') return json(ctx, 200, { mode: state.mode });
    if (method !== 'POST') return json(ctx, 405, { error: 'method_not_allowed' });
    const body = await readJson(ctx.req);
    if (!isPlainObject(body) || !MODES.has(body.mode)) {
      return json(ctx, 400, { error: 'invalid_request', error_description: 'expected {"mode": "ok" | "deny" | "bad-keys"}' });
    }
    state.badJwks = body.mode === 'bad-keys' ? await generateKeys({ publicOnly: true }) : null;
    state.mode = body.mode;
    log(`mode = ${state.mode}`);
    return json(ctx, 200, { mode: state.mode });
  }
  if (path === '/__test/identity') {
    if (method === 'GET') return json(ctx, 200, state.identity);
    if (method !== 'POST') return json(ctx, 405, { error: 'method_not_allowed' });
    const body = await readJson(ctx.req);
    if (!isPlainObject(body) || typeof body.sub !== 'string' || body.sub === '') {
      return json(ctx, 400, { error: 'invalid_request', error_description: 'expected a JSON object of claims with a non-empty string "sub"' });
    }
    state.identity = structuredClone(body);
    log(`identity = ${JSON.stringify(state.identity)}`);
    return json(ctx, 200, state.identity);
  }
  if (path === '/__test/last') {
    if (method !== 'GET') return json(ctx, 405, { error: 'method_not_allowed' });
    if (!state.lastAuthorization) return json(ctx, 404, { error: 'no authorization request received yet' });
    const last = {};
    for (const field of AUTHZ_FIELDS) last[field] = state.lastAuthorization[field] ?? null;
    last.params = state.lastAuthorization;
    return json(ctx, 200, last);
  }
  return json(ctx, 404, { error: 'not_found' });
}

async function finishInteraction(ctx) {
  // throws (e.g. SessionNotFound when the _interaction cookie is missing)
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { params } = details;

  let result;
  if (state.mode === 'deny') {
    result = {
      error: 'access_denied',
      error_description: 'User auth aborted',
    };
  } else {
    const identity = structuredClone(state.identity);
    state.accounts.set(identity.sub, identity);

    // The browser may still hold a session for another identity (the test
    // switched identities but kept its cookie jar). oidc-provider would then
    // insert an extra logout round-trip before the callback; forget the old
    // login instead, so the flow is always the same three requests.
    if (details.session?.uid && details.session.accountId !== identity.sub) {
      const session = await provider.Session.findByUid(details.session.uid);
      if (session?.accountId) {
        for (const field of ['accountId', 'loginTs', 'acr', 'amr', 'transient', 'authorizations', 'state']) {
          session[field] = undefined;
        }
        await session.persist();
      }
      // as oidc-provider does itself in that case: unbind the interaction
      // from the (now anonymous) session
      delete details.session;
      await details.save(details.exp - Math.floor(Date.now() / 1000));
    }

    const grant = new provider.Grant({ accountId: identity.sub, clientId: params.client_id });
    if (params.scope) grant.addOIDCScope(params.scope);
    const claims = requestedClaimNames(params.claims);
    if (claims.length) grant.addOIDCClaims(claims);
    const grantId = await grant.save();

    result = {
      login: { accountId: identity.sub, acr: 'eidas1', remember: true },
      consent: { grantId },
    };
  }

  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

handler = provider.callback();

// ---------------------------------------------------------------- lifecycle

let stopping = false;
function stop(reason) {
  if (stopping) return;
  stopping = true;
  if (verbose) log(`stopping (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

// When stdin is a pipe (the parent spawned us with a piped stdin), its end
// means the parent is gone: stop. A terminal, /dev/null or a file on stdin is
// not watched, so `node fc-provider.mjs ... </dev/null` keeps running.
let stdinIsPipe = false;
try {
  const st = fs.fstatSync(0);
  stdinIsPipe = st.isFIFO() || st.isSocket();
} catch {
  stdinIsPipe = false;
}
if (stdinIsPipe) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('close', () => stop('stdin closed'));
  process.stdin.on('error', () => stop('stdin error'));
  process.stdin.resume();
}

process.stdout.write(`READY ${issuer}\n`);
