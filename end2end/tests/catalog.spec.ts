// The catalog in a real browser: find an offering, see a field error appear while typing and
// go away when fixed, preview the rendered claim with its diff against the GitOps repository,
// save a draft, reload, and find the values back.
import { test, expect } from './fixtures';

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

test('the form refuses a duplicate list key and a date-time the API server would refuse, at the field, while typing', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await page.goto('/catalog/web-service');
  await expect(page.getByRole('heading', { name: 'Web service', level: 1 })).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  const start = page.getByLabel('Maintenance window start');
  await start.fill('tomorrow');
  const startField = page.locator('[data-path="/maintenanceStart"]');
  await expect(startField.getByTestId('field-error')).toContainText('Must be a valid date-time');
  await expect(start).toHaveAttribute('aria-invalid', 'true');
  await start.fill('2026-12-24T22:00:00Z');
  await expect(startField.getByTestId('field-error')).toHaveCount(0);

  // Two ports with the same name and (defaulted) protocol: the second one is refused.
  const add = page.getByRole('button', { name: 'Add to Ports' });
  await add.click();
  await add.click();
  await page.locator('[data-path="/ports/0/name"]').getByRole('textbox').fill('http');
  await page.locator('[data-path="/ports/1/name"]').getByRole('textbox').fill('http');
  const second = page.locator('fieldset[data-path="/ports/1"]');
  await expect(second.getByTestId('field-error').last()).toHaveText(
    'Duplicate value: the same name "http" and protocol "TCP" as item 1; each item must be unique.',
  );
  await expect(page.locator('fieldset[data-path="/ports/0"] > [data-testid="field-error"]')).toHaveCount(0);
  // Another protocol makes it a different key.
  await page.locator('[data-path="/ports/1/protocol"]').getByRole('combobox').selectOption('UDP');
  await expect(second.locator(':scope > [data-testid="field-error"]')).toHaveCount(0);

  // The server agrees: the preview goes through.
  await page.locator('#request-name').fill('web-1');
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('preview').getByTestId('preview-diff')).toContainText('protocol: UDP');
});
