// `chatctl up --local` in real headless Chromium (playwright-core, /usr/bin/chromium): two people
// open the front door in their own browser contexts, are spread over two instances (the door's
// affinity cookie then keeps each on its own), sign in to one room and see each other's
// messages. Started by tests/local_browser.rs, which passes CHAT_URL (the front door).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium } from "../../chat-server/tests/browser/chromium.mjs";

const WAIT_MS = 20000;
const URL = process.env.CHAT_URL;
if (!URL) throw new Error("CHAT_URL is not set: run this suite through cargo nextest (tests/local_browser.rs)");

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
});

/** One person: a fresh context (own cookies), the page at the front door, and its instance. */
async function openPerson() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(String(err)));
  const response = await page.goto(URL);
  assert.equal(response.status(), 200, `GET ${URL} answered ${response.status()}`);
  page.instance = response.headers()["x-chatctl-instance"];
  return page;
}

async function signIn(page, user, room) {
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: WAIT_MS });
  await page.fill("#name", user);
  await page.fill("#room", room);
  await page.click("button.signin");
  await page.waitForSelector("#chatroom:not([hidden])", { timeout: WAIT_MS });
}

async function send(page, text) {
  await page.fill("#msg", text);
  await page.press("#msg", "Enter");
}

async function waitForMessage(page, user, text) {
  try {
    await page.waitForFunction(
      ([u, t]) =>
        [...document.querySelectorAll("#messages li.message")].some(
          (li) => li.querySelector(".user").textContent === u && li.querySelector(".text").textContent === t,
        ),
      [user, text],
      { timeout: WAIT_MS },
    );
  } catch (err) {
    const shown = await page.$$eval("#messages li", (items) => items.map((li) => li.textContent)).catch(() => []);
    throw new Error(`message ${JSON.stringify({ user, text })} not shown; the list shows ${JSON.stringify(shown)}`, { cause: err });
  }
}

test("two browsers on different instances chat in one room through the front door", async () => {
  const room = `local-browser-${process.pid}`;
  const ann = await openPerson();
  const bob = await openPerson();
  assert.ok(ann.instance && bob.instance, "the front door names the instance that served the page");
  assert.notEqual(ann.instance, bob.instance, "two new visitors should be spread over the two instances");

  await signIn(ann, "ann", room);
  await signIn(bob, "bob", room);
  await send(ann, "hi bob, from ann's browser");
  await waitForMessage(bob, "ann", "hi bob, from ann's browser");
  await send(bob, "hi ann, from bob's browser");
  await waitForMessage(ann, "bob", "hi ann, from bob's browser");
  await waitForMessage(ann, "ann", "hi bob, from ann's browser");

  // The affinity cookie keeps each browser on its instance for later requests.
  const again = await ann.context().request.get(URL);
  assert.equal(again.headers()["x-chatctl-instance"], ann.instance, "ann's later request went to another instance");
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
});
