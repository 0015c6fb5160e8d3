// @xmpp/client (xmpp.js) over WebSocket, driven by interop/websocket_test.go:
// logs in as $XMPP_USER at $XMPP_SERVICE, sends $XMPP_PEER a message and
// waits for the answer "pong from tcp"; prints "ok" and exits 0 on success.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const { client, xml } = await import(pathToFileURL(join(process.env.NODE_MODULES, "@xmpp/client/index.js")));

const timer = setTimeout(() => { console.error("timeout"); process.exit(2); }, Number(process.env.CLIENT_TIMEOUT || 30) * 1000);
const xmpp = client({
  service: process.env.XMPP_SERVICE,
  domain: "localhost",
  username: process.env.XMPP_USER,
  password: process.env.XMPP_PASSWORD,
  resource: "xmppjs",
});
xmpp.on("error", (err) => { console.error("error:", err.message || err); process.exit(1); });
xmpp.on("stanza", async (st) => {
  if (st.is("message") && st.getChildText("body") === "pong from tcp") {
    console.log("received:", st.attrs.from, st.getChildText("body"));
    clearTimeout(timer);
    await xmpp.stop();
    console.log("ok");
    process.exit(0);
  }
});
xmpp.on("online", async (address) => {
  console.log("online as", address.toString());
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { to: process.env.XMPP_PEER, type: "chat" }, xml("body", {}, "ping from xmpp.js")));
});
await xmpp.start();
