// Open shipped templates in the ComfyUI frontend (headless Chromium) as the template browser does and read its
// missing-models dialog.
//
// node missing_models.mjs --url http://127.0.0.1:8188 --templates a,b,c [--pack comfyui-twgtm]
//      [--chromium /usr/bin/chromium] [--timeout 120] [--screenshot dir]
//
// Each template is fetched from /api/workflow_templates/<pack>/<name>.json and loaded with app.loadGraphData;
// the dialog's rows are read (label "directory / name", the download URL, an error if the frontend shows one)
// and the dialog is closed. Requests to any host but the ComfyUI server are refused (the dialog asks
// huggingface.co for file sizes). Prints one JSON line: {"<template>": [rows] | null (no dialog)}.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeout: 120, pack: 'comfyui-twgtm' };
  for (let i = 0; i < argv.length; i++) args[argv[i].replace(/^--/, '')] = argv[++i];
  for (const required of ['url', 'templates']) if (!args[required]) throw new Error(`missing --${required}`);
  args.url = args.url.replace(/\/$/, '');
  args.templates = args.templates.split(',');
  args.timeout = Number(args.timeout) * 1000;
  return args;
}

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

async function setting(url, id, value) {
  const response = await fetch(`${url}/api/settings/${id}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value),
  });
  if (!response.ok) throw new Error(`POST setting ${id}: HTTP ${response.status}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  await setting(args.url, 'Comfy.TutorialCompleted', true);
  await setting(args.url, 'Comfy.Workflow.ShowMissingModelsWarning', true);
  await setting(args.url, 'Comfy.Minimap.Visible', false);
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: FLAGS });
  const result = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(args.timeout);
    await page.addInitScript(() => localStorage.setItem('vueNodesBannerDismissed', 'true'));
    const own = new URL(args.url).host;
    await page.route('**/*', (route) => (new URL(route.request().url()).host === own ? route.continue() : route.abort()));
    await page.goto(args.url, { waitUntil: 'load' });
    await page.waitForFunction(() => {
      const app = window.app ?? window.comfyAPI?.app?.app;
      return app?.graph && app.canvas && 'TWGTMProfileLoader' in (window.LiteGraph?.registered_node_types ?? {});
    });
    for (const name of args.templates) {
      await page.evaluate(async ({ pack, name }) => {
        const app = window.app ?? window.comfyAPI.app.app;
        const response = await fetch(`/api/workflow_templates/${pack}/${name}.json`);
        if (!response.ok) throw new Error(`template ${name}: HTTP ${response.status}`);
        await app.loadGraphData(await response.json(), true, true, name, { openSource: 'template' });
      }, { pack: args.pack, name });
      const dialog = page.locator('.comfy-missing-models');
      try {
        await dialog.waitFor({ state: 'visible', timeout: 2500 });
      } catch {
        result[name] = null;
        continue;
      }
      result[name] = await page.evaluate(() => [...document.querySelectorAll('.comfy-missing-models li')].map((li) => {
        const label = li.querySelector('span[title]');
        return { label: label?.textContent.trim(), url: label?.getAttribute('title'),
          error: li.querySelector('.p-message')?.textContent.trim() || null };
      }));
      if (args.screenshot) {
        mkdirSync(args.screenshot, { recursive: true });
        await page.screenshot({ path: `${args.screenshot}/missing_models_${name}.png` });
      }
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
    }
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`missing_models.mjs: ${err.stack ?? err}`);
  process.exit(1);
});
