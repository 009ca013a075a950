// The app shell in a real browser: sign-in, hydration, navigation, theme, 404, sign-out.
import { test, expect, type Page } from './fixtures';

async function signIn(page: Page, persona: string) {
  await page.goto('/login');
  await page.getByRole('button', { name: `Continue as ${persona}` }).click();
  await expect(page).toHaveURL(/\/catalog$/);
}

/** Waits until the WebAssembly front end has hydrated the page (never true without it). */
async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('health endpoint answers without a session', async ({ request }) => {
  const res = await request.get('/healthz');
  expect(res.status()).toBe(200);
  expect(await res.text()).toBe('ok');
});

test('anonymous visitors are sent to the login page, which warns about the dev login', async ({ page }) => {
  await page.goto('/requests');
  await expect(page).toHaveURL(/\/login\?next=%2Frequests$/);
  await expect(page.getByRole('heading', { name: 'Sign in to Slipway' })).toBeVisible();
  await expect(page.getByTestId('dev-login')).toContainText('Development login — not for production');
});

test('signing in with the dev login lands on the catalog under the dev banner', async ({ page }) => {
  await signIn(page, 'Alice Archer');
  await expect(page.getByRole('heading', { name: 'Catalog', level: 1 })).toBeVisible();
  await expect(page.getByTestId('dev-banner')).toBeVisible();
  await expect(page).toHaveTitle('Catalog · Slipway');
});

test('the page hydrates: the user menu opens on click and shows the teams', async ({ page }) => {
  await signIn(page, 'Carol Chen');
  await hydrated(page);
  const button = page.getByTestId('user-menu-button');
  await expect(button).toHaveAttribute('aria-expanded', 'false');
  await button.click();
  await expect(button).toHaveAttribute('aria-expanded', 'true');
  const menu = page.getByRole('menu', { name: 'User menu' });
  await expect(menu).toBeVisible();
  await expect(menu.getByTestId('user-teams')).toHaveText(/team-a\s*team-b/);
});

test('each section is a page of its own, whose front end comes from the browser cache', async ({ page }) => {
  await signIn(page, 'Alice Archer');
  await hydrated(page);
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  for (const section of ['Requests', 'Status', 'Metrics', 'Catalog']) {
    await nav.getByRole('link', { name: section }).click();
    await expect(page.getByRole('heading', { name: section, level: 1 })).toBeVisible();
    await expect(nav.getByRole('link', { name: section })).toHaveAttribute('aria-current', 'page');
    await hydrated(page);
    // The main module, its glue and the stylesheet: named by their content's hash, kept by
    // the browser from the first page on (transferSize 0 is a cache hit).
    const front = await page.evaluate(() =>
      performance.getEntriesByType('resource')
        .map((e) => [new URL(e.name).pathname, (e as PerformanceResourceTiming).transferSize] as const)
        .filter(([path]) => path.startsWith('/pkg/slipway.')));
    expect(front.map(([path]) => path.split('.').pop()).sort(), section).toEqual(['css', 'js', 'wasm']);
    for (const [path, transferred] of front) expect(transferred, `${section}: ${path}`).toBe(0);
  }
  await expect(nav.getByRole('link', { name: 'Admin' })).toHaveCount(0);
});

test('the theme toggle switches to dark mode and the choice survives a reload', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await signIn(page, 'Alice Archer');
  await hydrated(page);
  const html = page.locator('html');
  await expect(html).not.toHaveClass(/dark/);
  await page.getByTestId('theme-toggle').click();
  await expect(html).toHaveClass(/dark/);
  await expect(page.getByTestId('theme-toggle')).toHaveAttribute('aria-pressed', 'true');
  await page.reload();
  await expect(html).toHaveClass(/dark/);
  const background = await page.locator('body').evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(background).not.toBe('rgb(248, 250, 252)'); // slate-50, the light background
});

test('an unknown page answers 404 with a way back', async ({ page }) => {
  await signIn(page, 'Alice Archer');
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'This page does not exist' })).toBeVisible();
  await page.getByRole('link', { name: 'Back to the catalog' }).click();
  await expect(page).toHaveURL(/\/catalog$/);
});

test('admins see the admin page with the running system', async ({ page }) => {
  await signIn(page, 'Pat Platform');
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Admin' }).click();
  const info = page.getByTestId('system-info');
  await expect(info).toContainText('Database backend');
  await expect(info).toContainText('sqlite');
});

test('signing out ends the session', async ({ page }) => {
  await signIn(page, 'Bob Builder');
  await hydrated(page);
  await page.getByTestId('user-menu-button').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/catalog');
  await expect(page).toHaveURL(/\/login\?next=%2Fcatalog$/);
});

// Every page type loaded directly hydrates under the Content Security Policy, with nothing
// failing in the browser: no error, no failed response, no policy violation, no file
// fetched twice.
test('every page type hydrates under the Content Security Policy, with nothing failing', async ({ browser }) => {
  const errors: string[] = [];
  const wasm: string[] = [];
  const watched = async () => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // A failed load is reported below with its address.
      if (m.text().startsWith('Failed to load resource')) return;
      if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text())) errors.push(m.text());
    });
    page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.request().method()} ${r.url()}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        (window as any).__cspViolations = [...((window as any).__cspViolations ?? []), `${event.violatedDirective} ${event.blockedURI}`];
      });
    });
    page.on('response', (r) => r.url().endsWith('.wasm') && wasm.push(new URL(r.url()).pathname));
    return page;
  };
  const page = await watched();

  const login = await page.goto('/login');
  expect(login?.headers()['content-security-policy']).toContain("'nonce-");
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await expect(page).toHaveURL(/\/catalog$/);
  // A request of the team's own, so its page has something to show.
  await page.goto('/catalog/postgresql');
  await hydrated(page);
  await page.getByLabel('Name').fill('hydration-db');
  await page.getByLabel('Storage (GiB)').fill('20');
  await page.getByTestId('submit-request').click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const request = new URL(page.url()).pathname;

  // The WebAssembly modules each page loaded.
  const modules = new Map<string, string[]>();
  const visit = async (page: Page, paths: string[]) => {
    for (const path of paths) {
      // What the page before is still loading is not this page's.
      await page.waitForLoadState('networkidle');
      wasm.length = 0;
      const response = await page.goto(path);
      expect(response?.status(), path).toBe(200);
      await hydrated(page);
      expect(await page.evaluate(() => (window as any).__cspViolations ?? []), path).toEqual([]);
      expect(wasm.filter((p, i) => wasm.indexOf(p) !== i), `${path}: no file fetched twice`).toEqual([]);
      modules.set(path, await page.evaluate(() =>
        performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.wasm'))));
    }
  };
  await visit(page, [
    '/catalog', '/catalog/postgresql', '/requests', request, '/status', '/status/clusters',
    '/metrics', '/metrics/teams/team-a', '/metrics/offerings/postgresql', '/tokens', '/approvals',
  ]);
  // Pages without a form or anything live need the main module only; the form engine comes
  // with the offering's page, in a chunk of its own.
  for (const path of ['/catalog', '/requests', '/metrics', '/metrics/teams/team-a']) {
    expect(modules.get(path), path).toEqual([expect.stringMatching(/^\/pkg\/slipway\.[\w-]+\.wasm$/)]);
  }
  expect(modules.get('/catalog/postgresql')!.some((p) => p.includes('offering_view')), 'the form engine in its chunk').toBe(true);
  // Hydrated means working: the user menu opens on click.
  const button = page.getByTestId('user-menu-button');
  await button.click();
  await expect(button).toHaveAttribute('aria-expanded', 'true');

  const admin = await watched();
  await signIn(admin, 'Pat Platform');
  await visit(admin, ['/admin', '/admin/audit', '/admin/git', '/admin/users']);
  expect(errors).toEqual([]);
});
