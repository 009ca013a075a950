// What every browser test imports instead of '@playwright/test': the same `test` and
// `expect`, plus one automatic fixture that keeps the browser's own complaints — uncaught
// errors and console errors, a WebAssembly panic among them — and prints them when the test
// fails. A page that never hydrates then says why in the test's output (CI keeps no trace).
import { test as base, type Page } from '@playwright/test';

export * from '@playwright/test';

export const test = base.extend<{ browserErrors: void }>({
  browserErrors: [
    async ({ context, browser }, use, testInfo) => {
      const seen: string[] = [];
      const watch = (page: Page) => {
        page.on('pageerror', (e) => seen.push(`[pageerror] ${page.url()}: ${e.stack ?? e.message}`));
        page.on('console', (m) => {
          if (m.type() === 'error') seen.push(`[console.error] ${page.url()}: ${m.text()}`);
        });
      };
      context.pages().forEach(watch);
      context.on('page', watch);
      // Tests that open contexts of their own (other users, themes, window sizes) too.
      const newContext = browser.newContext.bind(browser);
      browser.newContext = async (options) => {
        const opened = await newContext(options);
        opened.on('page', watch);
        return opened;
      };
      try {
        await use();
      } finally {
        browser.newContext = newContext;
      }
      if (testInfo.status !== testInfo.expectedStatus && seen.length > 0) {
        const report = seen.join('\n');
        console.log(`browser errors during "${testInfo.title}":\n${report}`);
        await testInfo.attach('browser errors', { body: report, contentType: 'text/plain' });
      }
    },
    { auto: true },
  ],
});
