// The web UI end to end in headless Chromium (Playwright), against a real
// sandbox after `wildrydes up`, as a user would use it: log in through the
// Facebook stand-in, file tickets, see them, be kept apart from another
// user, then keep working while the primary region is frozen and after it
// thaws. Run by tests/web_ui.rs, which starts the sandbox and deploys;
// this script takes:
//   WEB_URL        the CloudFront address `up` printed
//   WILDRYDES_BIN  the wildrydes binary, WILDRYDES_CWD where it runs
//   SCREENSHOTS    a folder for one screenshot per page (test artifacts)
//   CHROMIUM       the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const WEB_URL = env("WEB_URL");
const BIN = env("WILDRYDES_BIN");
const CWD = env("WILDRYDES_CWD");
const SHOTS = env("SCREENSHOTS");
const PRIMARY = "eu-west-1";
const SECONDARY = "ap-southeast-1";
const FAILOVER_WAIT = 120_000;
mkdirSync(SHOTS, { recursive: true });

function step(text) {
  console.log(`[${new Date().toISOString()}] ${text}`);
}

function wildrydes(...args) {
  step(`wildrydes ${args.join(" ")}`);
  execFileSync(BIN, args, { cwd: CWD, stdio: ["ignore", "inherit", "inherit"] });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A user's own browser: a new context, so nothing is shared. */
async function userPage(browser, { pageSize } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  if (pageSize) {
    // The app reads an optional page size from its config; a small one
    // makes paging visible with a few tickets.
    await context.addInitScript((size) => {
      let config;
      Object.defineProperty(window, "WILDRYDES_CONFIG", {
        configurable: true,
        get: () => config,
        set: (v) => {
          config = { ...v, pageSize: size };
        },
      });
    }, pageSize);
  }
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  return page;
}

async function login(page, userId, name, screenshot) {
  await page.goto(WEB_URL);
  await page.getByRole("heading", { name: "Log in", exact: true }).waitFor();
  if (screenshot) await shot(page, "1-login");
  await page.getByRole("button", { name: "Log in with Facebook" }).click();
  // The sandbox's Facebook stand-in.
  await page.getByLabel("Facebook user id").fill(userId);
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
  await page.getByRole("heading", { name: "My tickets", exact: true }).waitFor();
  assert.equal(new URL(page.url()).hash, "#/tickets");
  await page.getByText(`Facebook user ${userId}`).waitFor();
}

async function newTicket(page, { description, priority = "medium", category }) {
  await page.getByRole("link", { name: "New ticket" }).first().click();
  await page.getByRole("heading", { name: "New ticket", exact: true }).waitFor();
  await page.getByLabel("What happened?").fill(description);
  await page.getByLabel("Priority").selectOption(priority);
  if (category) await page.getByLabel("Category").selectOption(category);
  await page.getByRole("button", { name: "Submit ticket" }).click();
}

async function badge(page) {
  return (await page.locator("#region").textContent())?.trim();
}

/** Refreshes the list until the badge names `region`. */
async function untilServedFrom(page, region) {
  const deadline = Date.now() + FAILOVER_WAIT;
  for (;;) {
    await page.getByRole("button", { name: "Refresh" }).or(page.getByRole("button", { name: "Try again" })).first().click();
    // Wait for the list (or an error) to settle.
    await page.locator("main:not([aria-busy])").waitFor({ timeout: 90_000 });
    if ((await badge(page)) === region && (await page.getByRole("heading", { name: "My tickets", exact: true }).count())) return;
    if (Date.now() > deadline) throw new Error(`the page was not served from ${region} within ${FAILOVER_WAIT} ms (badge: ${await badge(page)})`);
    await page.waitForTimeout(500);
  }
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // --- Ann: log in, the validation error, two tickets, one with markup.
  step("Ann logs in");
  const ann = await userPage(browser, { pageSize: 2 });
  await login(ann, "10000000101", "Ann Rider", true);
  await ann.getByText("You have no tickets yet.").waitFor();
  assert.equal(await badge(ann), PRIMARY);

  step("a too-short description is refused in the browser, in the API's words");
  await newTicket(ann, { description: "short" });
  const error = ann.locator("#description-error");
  await error.waitFor();
  assert.equal(await error.textContent(), "description must be 10 to 2000 characters, got 5");
  assert.equal(await ann.getByLabel("What happened?").getAttribute("aria-invalid"), "true");
  await shot(ann, "2-new-ticket-invalid");

  step("Ann files a ticket and sees it");
  await ann.getByLabel("What happened?").fill("The seat of my bike came off on Market Street.");
  await ann.getByLabel("Category").selectOption("ride");
  await ann.getByRole("button", { name: "Submit ticket" }).click();
  await ann.getByRole("heading", { name: "Ticket", exact: true }).waitFor();
  assert.equal(await ann.locator("#description").textContent(), "The seat of my bike came off on Market Street.");
  const firstId = (await ann.locator("dd code").textContent()).trim();
  await shot(ann, "3-ticket-detail");

  step("markup in a description is shown as text");
  const markup = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> please help';
  await newTicket(ann, { description: markup, priority: "high", category: "app" });
  await ann.getByRole("heading", { name: "Ticket", exact: true }).waitFor();
  assert.equal(await ann.locator("#description").textContent(), markup);
  assert.equal(await ann.evaluate(() => window.__pwned), undefined);
  assert.equal(await ann.locator("main script, main img").count(), 0);

  step("a third ticket, filed by keyboard alone");
  await ann.getByRole("link", { name: "New ticket" }).first().click();
  await ann.getByLabel("What happened?").waitFor();
  await ann.keyboard.type("Charged twice for one ride yesterday.");
  for (const next of ["Priority", "Category", "Submit ticket"]) {
    await ann.keyboard.press("Tab");
    assert.equal(await ann.evaluate(() => document.activeElement.labels?.[0]?.textContent ?? document.activeElement.textContent), next);
  }
  await ann.keyboard.press("Enter");
  await ann.getByRole("heading", { name: "Ticket", exact: true }).waitFor();

  step("the list: newest first, paged with the API's cursor");
  await ann.getByRole("link", { name: "My tickets", exact: true }).click();
  await ann.getByRole("heading", { name: "My tickets", exact: true }).waitFor();
  const items = ann.locator("#tickets .description");
  assert.deepEqual(await items.allTextContents(), ["Charged twice for one ride yesterday.", markup]);
  await ann.getByRole("button", { name: "Show older tickets" }).click();
  await ann.waitForFunction(() => document.querySelectorAll("#tickets li").length === 3);
  assert.equal(await items.nth(2).textContent(), "The seat of my bike came off on Market Street.");
  assert.equal(await ann.getByRole("button", { name: "Show older tickets" }).isVisible(), false);
  await shot(ann, "4-my-tickets");

  step("at a phone's width nothing overflows");
  await ann.setViewportSize({ width: 360, height: 740 });
  assert.ok(await ann.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "no horizontal scrolling");
  await shot(ann, "5-my-tickets-phone");
  await ann.setViewportSize({ width: 1100, height: 800 });

  // --- Bob: his own empty list; Ann's ticket is not his.
  step("Bob logs in and sees none of Ann's tickets");
  const bob = await userPage(browser);
  await login(bob, "10000000202", "Bob Rider");
  await bob.getByText("You have no tickets yet.").waitFor();
  await bob.goto(`${WEB_URL}#/tickets/${firstId}`);
  await bob.getByRole("heading", { name: "No such ticket", exact: true }).waitFor();
  await bob.close();

  // --- The primary goes dark with Ann's page open.
  await ann.getByRole("link", { name: "My tickets", exact: true }).click();
  await ann.getByRole("heading", { name: "My tickets", exact: true }).waitFor();
  wildrydes("sandbox", "freeze", PRIMARY);
  let thawed = false;
  try {
    step("with the primary frozen, the page follows the secondary");
    await untilServedFrom(ann, SECONDARY);
    await ann.getByText(`Now served from ${SECONDARY}`).waitFor();
    await ann.getByText("The seat of my bike came off on Market Street.").or(ann.getByRole("button", { name: "Show older tickets" })).first().waitFor();
    await shot(ann, "6-failed-over");
    step("a ticket filed during the outage");
    await newTicket(ann, { description: "Filed while the primary region is down.", priority: "low" });
    await ann.getByRole("heading", { name: "Ticket", exact: true }).waitFor();
    const filedIn = ann.locator("dt", { hasText: "Filed in" }).locator("xpath=following-sibling::dd[1]");
    assert.equal(await filedIn.textContent(), SECONDARY);
    await shot(ann, "7-ticket-during-outage");
    await ann.getByRole("link", { name: "My tickets", exact: true }).click();
    await ann.getByRole("heading", { name: "My tickets", exact: true }).waitFor();
    assert.equal(await items.first().textContent(), "Filed while the primary region is down.");
    step("Cara, who never logged in, logs in while the primary is down");
    const cara = await userPage(browser);
    await login(cara, "10000000303", "Cara Rider");
    await cara.getByText("You have no tickets yet.").waitFor();
    assert.equal(await cara.evaluate(() => JSON.parse(sessionStorage.getItem("wildrydes.session")).region), SECONDARY);
    await newTicket(cara, { description: "My first ticket, filed during the outage." });
    await cara.getByRole("heading", { name: "Ticket", exact: true }).waitFor();
    await shot(cara, "9-new-user-during-outage");
    await cara.close();
    wildrydes("sandbox", "thaw", PRIMARY);
    thawed = true;
  } finally {
    if (!thawed) wildrydes("sandbox", "thaw", PRIMARY);
  }

  step("after the thaw, the badge returns to the primary");
  await untilServedFrom(ann, PRIMARY);
  await ann.getByText(`Now served from ${PRIMARY}`).waitFor();
  assert.equal(await items.first().textContent(), "Filed while the primary region is down.");
  await shot(ann, "8-failed-back");

  step("logout clears the session");
  await ann.getByRole("button", { name: "Log out" }).click();
  await ann.getByRole("heading", { name: "Log in", exact: true }).waitFor();
  assert.equal(await ann.evaluate(() => sessionStorage.getItem("wildrydes.session")), null);
  await ann.goto(`${WEB_URL}#/tickets`);
  await ann.getByRole("heading", { name: "Log in", exact: true }).waitFor();
  step("done");
} finally {
  await browser.close();
}
