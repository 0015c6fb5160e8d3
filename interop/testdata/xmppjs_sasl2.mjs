// @xmpp/client (xmpp.js) over TCP with STARTTLS, driven by
// interop/sasl2_test.go: logs in as $XMPP_USER with its password through
// SASL2 (XEP-0388) and Bind2 (XEP-0386), asking for a FAST token
// (XEP-0484), pings the server, and logs out; then logs in again, as the
// same client ($XMPP_UA), with the token and a wrong password. Prints what
// it saw ("online1 JID", "mechanism1 M", "token M", "online2 JID",
// "mechanism2 M") and "ok", and exits 0 on success.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const { client, xml } = await import(pathToFileURL(join(process.env.NODE_MODULES, "@xmpp/client/index.js")));

const timer = setTimeout(() => { console.error("timeout"); process.exit(2); }, Number(process.env.CLIENT_TIMEOUT || 30) * 1000);
let token = null;

function login(n, password) {
  return new Promise((resolve, reject) => {
    const xmpp = client({
      service: process.env.XMPP_SERVICE,
      domain: "localhost",
      username: process.env.XMPP_USER,
      password,
      resource: "xmppjs",
      userAgent: xml("user-agent", { id: process.env.XMPP_UA }, xml("software", {}, "xmpp.js interop")),
    });
    xmpp.fast.fetchToken = async () => token;
    xmpp.fast.saveToken = async (t) => { token = t; console.log("token", t.mechanism); };
    xmpp.on("send", (el) => {
      if (el.is("authenticate", "urn:xmpp:sasl:2")) console.log("mechanism" + n, el.attrs.mechanism);
    });
    xmpp.on("error", (err) => reject(err));
    xmpp.on("online", async (address) => {
      try {
        console.log("online" + n, address.toString());
        const pong = await xmpp.iqCaller.get(xml("ping", "urn:xmpp:ping"), "localhost");
        if (!pong) console.log("pinged" + n);
        await xmpp.stop();
        resolve();
      } catch (err) {
        reject(err);
      }
    });
    xmpp.start().catch(reject);
  });
}

try {
  await login(1, process.env.XMPP_PASSWORD);
  if (!token) throw new Error("no FAST token after the password login");
  await login(2, "not the password");
  clearTimeout(timer);
  console.log("ok");
  process.exit(0);
} catch (err) {
  console.error("error:", err.condition || "", err.message || err);
  process.exit(1);
}
