// Single sign-on in a real browser against a real OpenID Provider (npm oidc-provider,
// started by playwright.config.ts): its own login form, PKCE, teams from the groups claim.
import { test, expect, type Page } from './fixtures';

async function signInAtProvider(page: Page, username: string, password: string) {
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
  await expect(page.getByRole('heading', { name: 'Test identity provider' })).toBeVisible();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a member signs in through the provider and lands where they were going, with their teams', async ({ page }) => {
  await page.goto('/requests');
  await expect(page).toHaveURL(/\/login\?next=%2Frequests$/);
  await signInAtProvider(page, 'carol', 'carol-pw');
  await expect(page).toHaveURL(/\/requests$/);
  await expect(page.getByRole('heading', { name: 'Requests', level: 1 })).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('user-menu-button').click();
  const menu = page.getByRole('menu', { name: 'User menu' });
  await expect(menu).toContainText('carol@example.com');
  await expect(menu.getByTestId('user-teams')).toHaveText(/^\s*team-a\s*team-b\s*$/);
});

test('a wrong password is refused by the provider and signs nobody in', async ({ page }) => {
  await page.goto('/login');
  await signInAtProvider(page, 'alice', 'not-her-password');
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
  await page.goto('/catalog');
  await expect(page).toHaveURL(/\/login\?next=%2Fcatalog$/);
});

test('a user without a groups claim is sent back with the reason', async ({ page }) => {
  await page.goto('/login');
  await signInAtProvider(page, 'nogroups', 'nogroups-pw');
  await expect(page).toHaveURL(/\/login\?error=/);
  await expect(page.getByRole('alert')).toContainText('carries no groups claim');
});

test('signing out ends the session at the portal and at the provider', async ({ page }) => {
  await page.goto('/login');
  await signInAtProvider(page, 'bob', 'bob-pw');
  await expect(page).toHaveURL(/\/catalog$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('user-menu-button').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  // The provider's session is gone too: signing in again asks for the password.
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
  await expect(page.getByLabel('Password')).toBeVisible();
});
