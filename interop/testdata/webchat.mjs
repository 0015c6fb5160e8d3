// The built-in web chat (Converse.js) in Debian's headless Chromium, driven
// by playwright-core from interop/webchat_test.go. Two users log in, chat,
// and, when $UPLOAD=1, one sends a file the other downloads; they meet in a
// room.
// Any request to another origin, or a Content-Security-Policy violation,
// fails the run. Prints "ok" and exits 0 on success.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.env.NODE_MODULES, "/"));
const { chromium } = require("playwright-core");
const base = process.env.BASE_URL;
const room = process.env.ROOM;
const shots = process.env.SHOTS_DIR;
const timeout = 20000;

const foreign = [];
const cspErrors = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const pages = [];
const kill = setTimeout(async () => {
  console.error("timeout");
  await shootAll("timeout");
  process.exit(2);
}, Number(process.env.CLIENT_TIMEOUT || 90) * 1000);

async function shootAll(tag) {
  if (!shots) return;
  for (const [name, p] of pages) {
    try { await p.screenshot({ path: join(shots, `${name}-${tag}.png`) }); } catch {}
  }
}

function step(msg) { console.log(new Date().toISOString(), msg); }

async function login(name, password) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  pages.push([name, page]);
  page.setDefaultTimeout(timeout);
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base + "/") && !u.startsWith("data:") && !u.startsWith("blob:")) foreign.push(u);
  });
  page.on("console", (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspErrors.push(`${name}: ${m.text()}`);
  });
  page.on("pageerror", (e) => console.log(name, "page error:", e.message));
  await page.goto(base + "/");
  await page.fill("#converse-login-jid", `${name}@localhost`);
  await page.fill("#converse-login-password", password);
  await page.click("form button[type=submit]");
  await page.locator("converse-user-profile, .controlbox-section").first().waitFor();
  step(`${name} logged in`);
  return page;
}

// open shows the chat or room with jid (Converse.js routes on the URL hash)
// and returns its view.
async function open(page, kind, jid) {
  await page.evaluate(([k, j]) => { location.hash = `#converse/${k}?jid=${j}`; }, [kind, jid]);
  const view = page.locator(kind === "room" ? `converse-muc[jid="${jid}"]` : `converse-chat[jid="${jid}"]`);
  await view.locator("textarea.chat-textarea").waitFor();
  return view;
}

async function say(view, text) {
  const ta = view.locator("textarea.chat-textarea");
  await ta.fill(text);
  await ta.press("Enter");
}

async function expectText(view, text) {
  await view.locator(".chat-msg__text", { hasText: text }).first().waitFor();
}

try {
  const alice = await login("alice", process.env.ALICE_PASSWORD);
  const bob = await login("bob", process.env.BOB_PASSWORD);

  const bobChat = await open(bob, "chat", "alice@localhost");
  const aliceChat = await open(alice, "chat", "bob@localhost");
  await say(aliceChat, "hello bob, from the web chat");
  await expectText(bobChat, "hello bob, from the web chat");
  step("bob got alice's message");
  await say(bobChat, "hello alice");
  await expectText(aliceChat, "hello alice");
  step("alice got bob's answer");

  if (process.env.UPLOAD === "1") {
    const content = `a file from alice, ${Date.now()}\n`;
    const file = join(process.env.TMP_DIR, "note.txt");
    writeFileSync(file, content);
    await aliceChat.locator("input[type=file]").setInputFiles(file);
    const link = bobChat.locator(".chat-msg__text a, .chat-msg__media a, a.chat-image__link, converse-chat-message a[href*='note.txt']").filter({ hasText: /note\.txt|http/ }).first();
    await link.waitFor();
    const href = await link.getAttribute("href");
    step(`bob got a link: ${href}`);
    if (!href.startsWith(base + "/")) throw new Error(`upload URL not on this server: ${href}`);
    const got = await bob.evaluate(async (u) => (await fetch(u)).text(), href);
    if (got !== content) throw new Error(`downloaded ${JSON.stringify(got)}, want ${JSON.stringify(content)}`);
    step("bob downloaded alice's file");
  }

  const aliceRoom = await open(alice, "room", room);
  const bobRoom = await open(bob, "room", room);
  await say(aliceRoom, "hello room");
  await expectText(bobRoom, "hello room");
  step("bob saw alice's message in the room");

  await shootAll("done");
  if (foreign.length) throw new Error(`requests to other origins: ${foreign.join(", ")}`);
  if (cspErrors.length) throw new Error(`CSP violations: ${cspErrors.join(" | ")}`);
  console.log("ok");
  clearTimeout(kill);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error("FAIL:", e.message);
  await shootAll("fail");
  await browser.close();
  process.exit(1);
}
