// Playwright drives Debian's Chromium (never a downloaded browser) against the real
// `slipway` binary built by `make build`, on a free port chosen by the Makefile, with a
// fresh data folder (SQLite database, no GitOps state) for every run.
import { defineConfig } from '@playwright/test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const port = process.env.SLIPWAY_E2E_PORT;
const idpPort = process.env.SLIPWAY_E2E_IDP_PORT;
const kubePort = process.env.SLIPWAY_E2E_KUBE_PORT;
const stagingKubePort = process.env.SLIPWAY_E2E_STAGING_KUBE_PORT;
const metricsPort = process.env.SLIPWAY_E2E_METRICS_PORT;
if (!port || !idpPort || !kubePort || !stagingKubePort || !metricsPort) throw new Error('SLIPWAY_E2E_PORT/SLIPWAY_E2E_IDP_PORT/SLIPWAY_E2E_KUBE_PORT/SLIPWAY_E2E_STAGING_KUBE_PORT/SLIPWAY_E2E_METRICS_PORT are not set: run the e2e tests through `make e2e`');
const issuer = `http://127.0.0.1:${idpPort}`;
const baseURL = `http://127.0.0.1:${port}`;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Evaluated again in each worker; only the main process's value reaches the web server.
const data = mkdtempSync(join(tmpdir(), 'slipway-e2e-'));
// The client secret reaches the portal through a file, as a mounted Secret would.
const secretFile = join(data, 'oidc-client-secret');
writeFileSync(secretFile, 'slipway-e2e-secret\n');
// The clusters: Kubernetes API test doubles (no kube-apiserver can run here), reached with
// the bearer token they accept, as kubeconfig contexts would. `e2e` runs dev and prod,
// `e2e-staging` runs staging: a claim promoted from dev to staging keeps its name and
// namespace, so the two environments need clusters of their own, as they have in real life.
const kubeconfig = join(data, 'kubeconfig');
writeFileSync(kubeconfig, [
  'apiVersion: v1', 'kind: Config', 'current-context: e2e',
  'clusters:',
  '- name: e2e', '  cluster:', `    server: http://127.0.0.1:${kubePort}`,
  '- name: e2e-staging', '  cluster:', `    server: http://127.0.0.1:${stagingKubePort}`,
  'contexts:',
  '- name: e2e', '  context:', '    cluster: e2e', '    user: e2e',
  '- name: e2e-staging', '  context:', '    cluster: e2e-staging', '    user: e2e',
  'users:', '- name: e2e', '  user:', '    token: kube-double-token', '',
].join('\n'));
process.env.SLIPWAY_E2E_KUBE_URL = `http://127.0.0.1:${kubePort}`;
process.env.SLIPWAY_E2E_STAGING_KUBE_URL = `http://127.0.0.1:${stagingKubePort}`;
process.env.SLIPWAY_E2E_METRICS_URL = `http://127.0.0.1:${metricsPort}/metrics`;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['json']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      // The Kubernetes API test double as a process, serving the seed's kinds.
      command: `${root}/target/debug/kube-double --listen 127.0.0.1:${kubePort} --seed ${root}/end2end/kube/seed.yaml`,
      // Answers 401 without the token: reachable is all this waits for.
      url: `http://127.0.0.1:${kubePort}/version`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      // Staging's cluster: a second double with the same kinds.
      command: `${root}/target/debug/kube-double --listen 127.0.0.1:${stagingKubePort} --seed ${root}/end2end/kube/seed.yaml`,
      url: `http://127.0.0.1:${stagingKubePort}/version`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      // A real OpenID Provider with a login form and users in groups (see end2end/oidc).
      command: [
        `node ${root}/end2end/oidc/provider.mjs --port ${idpPort}`,
        `--redirect-uri ${baseURL}/auth/oidc/callback --post-logout-uri ${baseURL}/login`,
        '--client-id slipway --client-secret slipway-e2e-secret',
      ].join(' '),
      url: `${issuer}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
    // `init` seeds the GitOps repository with the sample catalog, as `make run` does, and the
    // e2e policies are pushed to it; the metrics test's ledger is imported before the portal
    // starts.
    command: [
      `${root}/target/debug/slipway init`,
      // The policies and the e2e offerings, committed to the catalog folder as a platform
      // team would.
      `git clone -q ${data}/gitops.git ${data}/work`,
      `cp ${root}/end2end/catalog/*.yaml ${data}/work/catalog/`,
      `git -C ${data}/work add catalog`,
      `git -C ${data}/work -c user.name=Platform -c user.email=platform@example.com commit -qm "Add policies"`,
      `git -C ${data}/work push -q origin HEAD`,
      `${root}/target/debug/slipway import-ledger ${root}/end2end/metrics/ledger.yaml`,
      `${root}/target/debug/slipway serve --dev-login --listen 127.0.0.1:${port} --metrics-listen 127.0.0.1:${metricsPort}`,
    ].join(' && '),
    url: `${baseURL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      DATABASE_URL: `sqlite://${data}/slipway.db`,
      SLIPWAY_DATA_DIR: data,
      SLIPWAY_SITE_ROOT: `${root}/target/site`,
      RUST_LOG: 'warn',
      SLIPWAY_OIDC_ISSUER: issuer,
      SLIPWAY_OIDC_CLIENT_ID: 'slipway',
      SLIPWAY_OIDC_CLIENT_SECRET_FILE: secretFile,
      SLIPWAY_OIDC_SCOPES: 'openid profile email groups',
      SLIPWAY_TEAM_REGEX: '^team-[a-z0-9-]+$',
      SLIPWAY_ADMIN_GROUP: 'platform-admins',
      SLIPWAY_CLUSTERS: 'e2e,e2e-staging',
      SLIPWAY_ENVIRONMENTS: 'dev@e2e,staging@e2e-staging,prod@e2e',
      SLIPWAY_KUBECONFIG: kubeconfig,
      SLIPWAY_KUBE_REDISCOVER_SECS: '1',
      // One browser signs in dozens of times a minute here; the limits have their own test.
      SLIPWAY_SIGN_IN_PER_MINUTE: '1000',
      SLIPWAY_USER_PER_MINUTE: '100000',
    },
    },
  ],
});
