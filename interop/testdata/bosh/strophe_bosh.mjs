// strophe.js over BOSH, driven by interop/bosh_test.go: logs in as
// $XMPP_USER over the BOSH service $XMPP_SERVICE (XEP-0206), sends $XMPP_PEER
// a message and waits for the answer "pong from tcp"; prints "ok" and exits 0
// on success. Node has no XMLHttpRequest: xhr2 provides it, with responseXML
// parsed by @xmldom (strophe reads the response DOM from there).
import XHR2 from "xhr2";
import { DOMParser } from "@xmldom/xmldom";

class XHR extends XHR2 {
  get responseXML() {
    if (this.readyState !== 4 || !this.responseText) return null;
    return new DOMParser().parseFromString(this.responseText, "text/xml");
  }
}
globalThis.XMLHttpRequest = XHR;
const { Strophe, $msg, $pres } = await import("strophe.js");

const timer = setTimeout(() => { console.error("timeout"); process.exit(2); }, Number(process.env.CLIENT_TIMEOUT || 30) * 1000);
const conn = new Strophe.Connection(process.env.XMPP_SERVICE);
if (process.env.BOSH_DEBUG) {
  conn.xmlInput = (el) => console.log("IN ", Strophe.serialize(el));
  conn.xmlOutput = (el) => console.log("OUT", Strophe.serialize(el));
}
const names = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k]));
conn.addHandler((msg) => {
  const body = msg.getElementsByTagName("body")[0];
  if (body && Strophe.getText(body) === "pong from tcp") {
    console.log("received:", msg.getAttribute("from"), Strophe.getText(body));
    clearTimeout(timer);
    conn.disconnect("done");
  }
  return true;
}, null, "message");
let online = false;
conn.connect(process.env.XMPP_USER, process.env.XMPP_PASSWORD, (status, cond) => {
  console.log("status:", names[status], cond || "");
  if (status === Strophe.Status.CONNECTED) {
    online = true;
    console.log("online as", conn.jid);
    conn.send($pres());
    conn.send($msg({ to: process.env.XMPP_PEER, type: "chat" }).c("body").t("ping from strophe"));
  } else if (status === Strophe.Status.DISCONNECTED) {
    if (!online) { console.error("disconnected before logging in"); process.exit(1); }
    console.log("ok");
    process.exit(0);
  } else if (status === Strophe.Status.AUTHFAIL || status === Strophe.Status.CONNFAIL || status === Strophe.Status.ERROR) {
    console.error("failed:", names[status], cond || "");
    process.exit(1);
  }
});
