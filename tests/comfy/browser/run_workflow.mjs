// Open the ComfyUI frontend in headless Chromium, load a UI-format workflow, queue it the way a
// user does, wait for its output images, and save a screenshot.
//
// node run_workflow.mjs --url http://127.0.0.1:8188 --workflow wf.json --screenshot out.png
//      [--chromium /usr/bin/chromium] [--timeout 90] [--api-out prompt.json] [--saved-out saved.json]
//      [--click]   (press the Run/Queue button instead of calling app.queuePrompt)
//
// playwright-core is resolved from NODE_PATH (the tests install it in .cache/node/node_modules).
// Prints one JSON line: {prompt_id, status, images, output_node_ids, console_errors}; exits 1 on failure.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeout: 90, click: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (key === 'click') args.click = true;
    else args[key] = argv[++i];
  }
  for (const required of ['url', 'workflow', 'screenshot']) {
    if (!args[required]) throw new Error(`missing --${required}`);
  }
  args.url = args.url.replace(/\/$/, '');
  args.timeout = Number(args.timeout) * 1000;
  return args;
}

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.json();
}

async function waitForHistory(base, promptId, deadline) {
  while (Date.now() < deadline) {
    const history = await getJson(`${base}/history/${promptId}`);
    const entry = history[promptId];
    if (entry && (entry.status?.completed || entry.status?.status_str === 'error')) return entry;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`prompt ${promptId} did not finish in time`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + args.timeout;
  const workflow = JSON.parse(readFileSync(args.workflow, 'utf8'));

  // Hide the first-run dialog before the page loads.
  const settings = await fetch(`${args.url}/api/settings/Comfy.TutorialCompleted`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'true',
  });
  if (!settings.ok) throw new Error(`POST settings: HTTP ${settings.status}`);
  // No minimap over the bottom-right corner of the screenshot.
  const minimap = await fetch(`${args.url}/api/settings/Comfy.Minimap.Visible`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'false',
  });
  if (!minimap.ok) throw new Error(`POST settings: HTTP ${minimap.status}`);

  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: FLAGS });
  const consoleErrors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // Hide the "Nodes 2.0" banner (kept in localStorage by the frontend).
    await page.addInitScript(() => localStorage.setItem('vueNodesBannerDismissed', 'true'));
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text().slice(0, 500)); });
    page.on('pageerror', (err) => consoleErrors.push(String(err).slice(0, 500)));
    page.setDefaultTimeout(Math.max(1000, deadline - Date.now()));

    await page.goto(args.url, { waitUntil: 'load' });
    // The app is ready when its graph exists and our node type is registered from /object_info.
    const nodeTypes = [...new Set(workflow.nodes.map((n) => n.type))];
    await page.waitForFunction((types) => {
      const app = window.app ?? window.comfyAPI?.app?.app;
      const registered = window.LiteGraph?.registered_node_types ?? {};
      return app?.graph && app.canvas && types.every((t) => t in registered || t === 'Note');
    }, nodeTypes);

    await page.evaluate(async (wf) => {
      const app = window.app ?? window.comfyAPI.app.app;
      await app.loadGraphData(wf);
    }, workflow);

    if (args.apiOut || args.savedOut) {
      const exported = await page.evaluate(async () => {
        const app = window.app ?? window.comfyAPI.app.app;
        const api = await app.graphToPrompt();
        return { prompt: api.output, saved: app.graph.serialize() };
      });
      if (args.apiOut) writeFileSync(args.apiOut, JSON.stringify(exported.prompt, null, 2));
      if (args.savedOut) writeFileSync(args.savedOut, JSON.stringify(exported.saved, null, 2));
    }

    const queued = page.waitForResponse((r) => r.url().endsWith('/api/prompt') && r.request().method() === 'POST');
    queued.catch(() => {}); // awaited below; avoid an unhandled rejection while the click runs
    if (args.click) {
      await page.locator('button[aria-label="Run"]').first().click();
    } else {
      await page.evaluate(async () => {
        const app = window.app ?? window.comfyAPI.app.app;
        await app.queuePrompt(0, 1);
      });
    }
    const answer = await (await queued).json();
    if (!answer.prompt_id) throw new Error(`the server rejected the prompt: ${JSON.stringify(answer)}`);

    const entry = await waitForHistory(args.url, answer.prompt_id, deadline);
    const images = Object.values(entry.outputs ?? {}).flatMap((o) => o.images ?? []);
    const outputNodeIds = Object.keys(entry.outputs ?? {});

    // The output must reach the page: the node output store gets it, and the image loads.
    if (images.length) {
      await page.waitForFunction((ids) => {
        const app = window.app ?? window.comfyAPI.app.app;
        const outputs = app.nodeOutputs ?? {};
        return ids.every((id) => outputs[id]?.images?.length);
      }, outputNodeIds.filter((id) => entry.outputs[id].images?.length));
      const loaded = await page.evaluate(async (image) => {
        const params = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder, type: image.type });
        const img = new Image();
        img.src = `/api/view?${params}`;
        await img.decode();
        return [img.naturalWidth, img.naturalHeight];
      }, images[0]);
      images[0].loaded_size = loaded;
      await page.waitForTimeout(500); // let the canvas draw the preview
    }
    mkdirSync(dirname(resolve(args.screenshot)), { recursive: true });
    await page.screenshot({ path: args.screenshot });

    const status = entry.status?.status_str ?? 'unknown';
    console.log(JSON.stringify({ prompt_id: answer.prompt_id, status, images, output_node_ids: outputNodeIds,
      console_errors: consoleErrors }));
    process.exitCode = status === 'success' ? 0 : 1;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`run_workflow.mjs: ${err.stack ?? err}`);
  process.exit(1);
});
