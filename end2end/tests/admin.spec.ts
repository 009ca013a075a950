// Administration in a real browser: the audit log with filters and its CSV export.
import { test, expect } from './fixtures';
import { readFileSync } from 'node:fs';

test('admins filter the audit log and download the filtered entries as CSV', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Pat Platform' }).click();
  await page.goto('/admin');
  await page.getByRole('link', { name: 'Audit log →' }).click();
  await expect(page).toHaveURL(/\/admin\/audit$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const table = page.getByTestId('audit-table');
  await expect(table.getByRole('row').filter({ hasText: 'Pat Platform' }).first()).toContainText('dev-login');

  await page.getByLabel('Actor').fill('nobody-by-this-name');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/actor=nobody-by-this-name/);
  await expect(page.getByText('No entries match these filters.')).toBeVisible();

  await page.getByLabel('Actor').fill('pat');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(table).toContainText('Pat Platform');
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download CSV' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('slipway-audit.csv');
  const rows = readFileSync(await file.path(), 'utf8').trim().split('\n');
  expect(rows[0]).toBe('time,actor,action,target,request_id,outcome,detail,id');
  expect(rows.length).toBeGreaterThan(1);
  for (const row of rows.slice(1)) expect(row).toContain(',Pat Platform,');
});

test('members are refused the audit log', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  const response = await page.goto('/admin/audit');
  expect(response?.status()).toBe(403);
  await expect(page.getByTestId('error-panel')).toContainText('You are not allowed to read the audit log.');
});

test('an admin deactivates a user, who is signed out at once and cannot sign in until reactivated', async ({ page, browser }) => {
  const bobContext = await browser.newContext();
  const bob = await bobContext.newPage();
  await bob.goto('/login');
  await bob.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await expect(bob).toHaveURL(/\/catalog$/);

  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Pat Platform' }).click();
  await page.goto('/admin');
  await page.getByRole('link', { name: 'Users →' }).click();
  await expect(page).toHaveURL(/\/admin\/users$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const row = page.getByTestId('user').filter({ hasText: 'bob@dev.slipway.invalid' });
  await row.getByRole('button', { name: /^Deactivate Bob Builder/ }).click();
  await expect(row.getByRole('button', { name: /^Reactivate Bob Builder/ })).toBeVisible();
  await expect(row).toContainText('deactivated');

  // Bob's next page view finds no session; signing in again is refused and says why.
  await bob.goto('/requests');
  await expect(bob).toHaveURL(/\/login\?next=/);
  await bob.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await expect(bob).toHaveURL(/\/login\?error=deactivated/);
  await expect(bob.getByRole('alert')).toContainText('has been deactivated');

  await row.getByRole('button', { name: /^Reactivate Bob Builder/ }).click();
  await expect(row.getByRole('button', { name: /^Deactivate Bob Builder/ })).toBeVisible();
  await bob.goto('/login');
  await bob.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await expect(bob).toHaveURL(/\/catalog$/);
  await bobContext.close();
});
