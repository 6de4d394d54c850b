// The pool dashboard in a real headless Chromium (Debian's, driven by playwright-core): the page
// loads without console errors, shows the workers and the deal, and updates as the deal's tasks
// finish, without a reload. Screenshots are kept for a failure to be looked at.
//
//   node tests/browser/dashboard.mjs <operator link> <workers> <tasks> <screenshot dir>
//
// Exit 0 and a JSON line when every check held; exit 1 with the reason otherwise.
import { chromium } from "playwright-core";

const [link, workers, tasks, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: dashboard.mjs <operator link> <workers> <tasks> <screenshot dir>");
  process.exit(2);
}
const executablePath = process.env.QUORATE_CHROMIUM || "/usr/bin/chromium";
// The flags the machine's closed network needs: no background connections, no QUIC.
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
const errors = [];
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(String(e)));

const done = () => page.evaluate(() => {
  const cell = document.querySelector("#deals tbody tr[data-deal] td.completed");
  return cell ? parseInt(cell.textContent.split("/")[0], 10) : -1;
});

try {
  await page.goto(link);
  await page.waitForSelector("body.operator", { timeout: 15000 });
  await page.waitForFunction((n) => document.querySelectorAll("#workers tbody tr[data-address]").length === n,
    Number(workers), { timeout: 30000 });
  await page.waitForSelector("#deals tbody tr[data-deal]", { timeout: 30000 });
  const first = await done();
  await page.screenshot({ path: `${shots}/dashboard-running.png`, fullPage: true });
  // Updates as tasks finish: the done count rises, to the deal's every task.
  await page.waitForFunction((total) => {
    const cell = document.querySelector("#deals tbody tr[data-deal] td.completed");
    return cell && cell.textContent.trim() === `${total} / ${total}`;
  }, Number(tasks), { timeout: 150000, polling: 250 });
  const last = await done();
  await page.screenshot({ path: `${shots}/dashboard-finished.png`, fullPage: true });
  if (!(last > first)) throw new Error(`the page did not update: ${first} done at first, ${last} at the end`);
  const charted = await page.evaluate(() => document.querySelectorAll("#chart-completed rect").length);
  if (charted < 60) throw new Error(`the chart of tasks completed has ${charted} bars, not an hour's`);
  if (errors.length) throw new Error(`console errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ workers: Number(workers), first, last }));
} catch (e) {
  await page.screenshot({ path: `${shots}/dashboard-failure.png`, fullPage: true }).catch(() => {});
  console.error(`dashboard: ${e.message}`);
  if (errors.length) console.error(`console errors: ${errors.join("; ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
