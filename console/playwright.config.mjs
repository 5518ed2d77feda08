// Playwright for the console's end-to-end specs (tests/*.spec.mjs). They run against a
// real imgarcd started by tests/console/run_console.py, which sets IMGARC_URL (and the
// seed data's names); see console/README.md. Debian's chromium drives them
// (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: Playwright downloads no browser).
import {defineConfig} from '@playwright/test';

const shots = process.env.IMGARC_SHOTS || 'test-results';
// One output folder per spec: CTest runs specs side by side, and Playwright empties its
// output folder when it starts.
const spec = process.env.IMGARC_SPEC || 'all';

export default defineConfig({
    testDir: 'tests',
    testMatch: '*.spec.mjs',
    workers: 1,
    retries: 0,
    timeout: 60_000,
    expect: {timeout: 10_000},
    reporter: 'list',
    outputDir: `${shots}/results-${spec}`,
    use: {
        baseURL: process.env.IMGARC_URL,
        viewport: {width: 1280, height: 800},
        locale: 'en-US',
        timezoneId: 'Asia/Shanghai',
        screenshot: 'only-on-failure',
        trace: 'retain-on-failure',
        launchOptions: {
            executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
            args: ['--headless=new', '--disable-gpu', '--disable-quic', '--no-first-run',
                   '--disable-background-networking', '--disable-component-update',
                   '--disable-sync', '--disable-dev-shm-usage'],
        },
    },
});
