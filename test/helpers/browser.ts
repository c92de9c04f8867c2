/**
 * A real browser for the web tests: Debian's Chromium driven by playwright-core (no browser
 * download). Where no Chromium is installed, `chromiumPath()` is undefined and the tests skip
 * with a message saying how to get it.
 */
import { existsSync } from 'node:fs';
import type { Browser, LaunchOptions } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function chromiumPath(): string | undefined {
  const fromEnv = process.env.EMOPIPE_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export const NO_CHROMIUM = 'no Chromium found (apt-get install -y chromium, or set EMOPIPE_CHROMIUM): browser tests skipped';

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const opts: LaunchOptions = {
    executablePath: chromiumPath(),
    headless: true,
    // The sandbox needs user namespaces, which containers and CI runners as root often lack.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...extraArgs],
  };
  return chromium.launch(opts);
}
