// Personal API tokens in a real browser: created from the user menu, shown once, used on
// the REST API, revoked.
import { test, expect } from './fixtures';

test('a user creates a token, uses it on the REST API, and revokes it', async ({ page, request }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('user-menu-button').click();
  await page.getByRole('menuitem', { name: 'API tokens' }).click();
  await expect(page.getByRole('heading', { name: 'API tokens', level: 1 })).toBeVisible();

  await page.getByLabel('Name').fill('e2e-pipeline');
  await page.getByLabel('Access').selectOption('read');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('new-token-secret').textContent())!.trim();
  expect(secret).toMatch(/^slp_[A-Za-z0-9_-]{43}$/);
  const row = page.getByTestId('token-table').getByRole('row').filter({ hasText: 'e2e-pipeline' });
  await expect(row).toContainText('read');

  const me = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).name).toBe('Bob Builder');

  await page.reload();
  await expect(page.getByTestId('new-token')).toHaveCount(0);
  await expect(page.getByText(secret)).toHaveCount(0);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toContainText('inactive');
  const after = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
});
