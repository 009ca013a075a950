// The catalog in a real browser: find an offering, see a field error appear while typing and
// go away when fixed, preview the rendered claim with its diff against the GitOps repository,
// save a draft, reload, and find the values back.
import { test, expect } from '@playwright/test';

test('a developer fills an offering form, previews the diff and gets the draft back after a reload', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  await page.getByTestId('catalog-search').fill('postgres');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByTestId('catalog-count')).toHaveText('1 offering');
  await page.getByTestId('offering-card').filter({ hasText: 'PostgreSQL database' }).click();
  await expect(page.getByRole('heading', { name: 'PostgreSQL database', level: 1 })).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // A field error appears while typing, before any round trip to the server …
  const storage = page.getByLabel('Storage (GiB)');
  await storage.fill('5');
  const storageField = page.locator('[data-path="/storageGB"]');
  await expect(storageField.getByTestId('field-error')).toHaveText('At least 10.');
  await expect(storage).toHaveAttribute('aria-invalid', 'true');
  // … and goes away once fixed.
  await storage.fill('50');
  await expect(storageField.getByTestId('field-error')).toHaveCount(0);

  const name = page.getByLabel('Name');
  await name.fill('Orders_DB');
  await expect(page.locator('[data-path="@name"]').getByTestId('field-error')).toContainText('lower-case');
  await name.fill('orders-db');
  await expect(page.locator('[data-path="@name"]').getByTestId('field-error')).toHaveCount(0);

  // The server validates again and shows what would be committed.
  await page.getByRole('button', { name: 'Preview' }).click();
  const preview = page.getByTestId('preview');
  await expect(preview.getByTestId('preview-change')).toHaveText('New file');
  await expect(preview.getByTestId('preview-path')).toHaveText('dev/team-a/postgresqlinstance/orders-db.yaml');
  await expect(preview.getByTestId('preview-diff')).toContainText('+ kind: PostgreSQLInstance');
  await expect(preview.getByTestId('preview-diff')).toContainText('storageGB: 50');

  // A value the browser cannot judge is refused by the server, at its field.
  await page.locator('summary', { hasText: 'Advanced' }).click();
  await page.getByLabel('Backup window').fill('25:00');
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.locator('[data-path="/backupWindow"]').getByTestId('field-error')).toContainText('pattern');
  await page.getByLabel('Backup window').fill('02:30');

  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByTestId('draft-restored')).toContainText('Draft saved');

  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('draft-restored')).toBeVisible();
  await expect(page.getByLabel('Name')).toHaveValue('orders-db');
  await expect(page.getByLabel('Storage (GiB)')).toHaveValue('50');
  await page.locator('summary', { hasText: 'Advanced' }).click();
  await expect(page.getByLabel('Backup window')).toHaveValue('02:30');
});
