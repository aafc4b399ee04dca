#!/usr/bin/env node
// The peer of Procura's provider in the benchmark (scripts/bench): panva's certified
// `oidc-provider` (the copy installed by tests/interop), in memory, configured for the same
// acting-on-behalf flow: authorization code + PKCE S256 + ES256 id_token + userinfo, with an
// interaction that mirrors Procura's pages (choose a usager, then a démarche, each a page and
// a POSTed form with a CSRF token). The End-User is logged in by the first interaction of a
// cookie jar and stays logged in, like an aidant who is already logged in to Procura.
//
//   node bench/node-op.mjs --port 0 --client-id ID --client-secret S --redirect-uri URI
//
// Prints `READY <issuer>` on stdout once listening; stops on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { parseArgs, promisify } from 'node:util';
import { pathToFileURL } from 'node:url';

for (const k of ['log', 'info', 'debug', 'warn']) console[k] = (...a) => console.error(...a);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
  },
});
if (!args['client-id'] || !args['client-secret'] || !args['redirect-uri']) {
  process.stderr.write('usage: node-op.mjs --port P --client-id ID --client-secret S --redirect-uri URI\n');
  process.exit(2);
}

const require = createRequire(new URL('../tests/interop/package.json', import.meta.url));
const { default: Provider, interactionPolicy } = await import(
  pathToFileURL(require.resolve('oidc-provider')).href
);

// The usagers and their démarches (same as the benchmark data in Procura).
const USAGERS = new Map([
  ['bench-usager', {
    name: 'Angela Claire Louise DUBOIS',
    demarches: ['social', 'logement'],
    claims: {
      given_name: 'Angela Claire Louise', family_name: 'DUBOIS', birthdate: '1962-08-24',
      gender: 'female', birthplace: '75107', birthcountry: '99100', email: 'angela.dubois@exemple.fr',
    },
  }],
]);

const { privateKey } = await promisify(crypto.generateKeyPair)('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `bench-${crypto.randomBytes(4).toString('hex')}`, use: 'sig', alg: 'ES256' };

// Every authorization request needs the choice (consent prompt), even with a session.
const policy = interactionPolicy.base();
policy.get('consent').checks.add(new interactionPolicy.Check(
  'choose_usager', 'the aidant chooses a usager and a démarche on every request',
  (ctx) => (ctx.oidc.result?.consent ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
));

const server = http.createServer((req, res) => handler(req, res));
let handler = (req, res) => { res.statusCode = 503; res.end(); };
server.keepAliveTimeout = 30000;
server.listen(Number(args.port), '127.0.0.1');
await once(server, 'listening');
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: [args['redirect-uri']],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: {
    acr: null, auth_time: null, iss: null, sid: null,
    openid: ['sub'],
    profile: ['given_name', 'family_name', 'birthdate', 'gender'],
    birth: ['birthplace', 'birthcountry'],
    email: ['email'],
  },
  scopes: ['openid'],
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
  // Identity claims go in the id_token too, as Procura does.
  conformIdTokenClaims: false,
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const u = USAGERS.get(sub);
    return u && { accountId: sub, async claims() { return { sub, ...u.claims }; } };
  },
  async renderError(ctx, out, error) {
    ctx.type = 'json';
    ctx.body = out;
    if (error?.status) ctx.status = error.status;
  },
  ttl: { AccessToken: 60, AuthorizationCode: 60, IdToken: 3600, Interaction: 900, Session: 43200, Grant: 3600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

// Interaction state: the chosen usager and a CSRF token per interaction uid.
const choices = new Map();

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(ctx, title, body) {
  ctx.status = 200;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([^/]+)(?:\/(usager|demarche))?$/.exec(ctx.path);
  if (!m) return next();
  const [, uid, step] = m;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let c = choices.get(uid);
  if (!c) {
    c = { csrf: crypto.randomBytes(32).toString('base64url'), usager: null, created: Date.now() };
    choices.set(uid, c);
  }
  if (ctx.method === 'GET' && !step) {
    const form = (action, inner) => `<form method="post" action="/interaction/${esc(uid)}/${action}"><input type="hidden" name="csrf_token" value="${c.csrf}">${inner}<button type="submit">Continuer</button></form>`;
    if (!c.usager) {
      const items = [...USAGERS].map(([id, u]) => `<label><input type="radio" name="usager" value="${esc(id)}"> ${esc(u.name)} (${esc(u.demarches.join(', '))})</label>`).join('');
      return page(ctx, 'Pour qui agissez-vous ?', form('usager', items));
    }
    const u = USAGERS.get(c.usager);
    const items = u.demarches.map((d) => `<label><input type="radio" name="demarche" value="${esc(d)}"> ${esc(d)}</label>`).join('');
    return page(ctx, `Pour quelle démarche de ${u.name} ?`, form('demarche', items));
  }
  if (ctx.method !== 'POST' || !step) { ctx.status = 405; return undefined; }
  const f = await readForm(ctx.req);
  if (f.get('csrf_token') !== c.csrf) { ctx.status = 400; ctx.body = 'csrf'; return undefined; }
  if (step === 'usager') {
    if (!USAGERS.has(f.get('usager'))) { ctx.status = 400; ctx.body = 'usager'; return undefined; }
    c.usager = f.get('usager');
    ctx.status = 303;
    return ctx.redirect(`/interaction/${uid}`);
  }
  const u = c.usager && USAGERS.get(c.usager);
  if (!u || !u.demarches.includes(f.get('demarche'))) { ctx.status = 400; ctx.body = 'demarche'; return undefined; }
  choices.delete(uid);
  const grant = new provider.Grant({ accountId: c.usager, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const result = { consent: { grantId: await grant.save() } };
  if (details.session?.accountId !== c.usager) result.login = { accountId: c.usager, remember: true };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  return ctx.redirect(to);
});

// Forget abandoned choices.
setInterval(() => {
  const old = Date.now() - 15 * 60 * 1000;
  for (const [k, v] of choices) if (v.created < old) choices.delete(k);
}, 60000).unref();

handler = provider.callback();
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); setTimeout(() => process.exit(0), 500).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`READY ${issuer}\n`);
