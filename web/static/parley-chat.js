// Starts Converse.js for Parley's built-in web chat. Both are ES modules:
// converse.min.js, loaded first, sets window.converse. The server puts its
// settings in the JSON block #parley-config (no inline script: the page's
// Content-Security-Policy forbids them). Every default of Converse.js that
// would fetch something from another site is switched off here.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("parley-config").textContent);
  // Converse.js's fullscreen footer shows sponsor logos loaded from its
  // project's site. Defining the element first makes Converse.js skip its
  // own (it registers an element only when the name is still free).
  if (!customElements.get("converse-footer")) {
    customElements.define("converse-footer", class extends HTMLElement {});
  }
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.websocket_path;
  const here = location.hostname;
  converse.initialize({
    assets_path: cfg.assets_path,
    websocket_url: ws,
    bosh_service_url: undefined,
    // Would fetch https://<domain>/.well-known/host-meta: the page already
    // knows its endpoint.
    discover_connection_methods: false,
    view_mode: "fullscreen",
    default_domain: cfg.domain,
    domain_placeholder: cfg.domain,
    registration_domain: cfg.registration ? cfg.domain : "",
    allow_registration: cfg.registration,
    muc_domain: cfg.muc_domain || undefined,
    locked_muc_domain: false,
    auto_register_muc_nickname: true,
    muc_nickname_from_jid: true,
    // Provider lists and their links come from xmpp.net.
    providers_link: "",
    xmpp_providers_url: "",
    autocomplete_providers_url: "",
    // Emoji as the system draws them, never images from a CDN.
    use_system_emojis: true,
    emoji_image_path: cfg.assets_path + "emoji/",
    // No players embedded from other sites, no HEAD requests to links in
    // messages, and inline media only from this server (uploads).
    embed_3rd_party_media_players: false,
    fetch_url_headers: false,
    allowed_image_domains: [here],
    allowed_video_domains: [here],
    allowed_audio_domains: [here],
    show_client_info: false,
    i18n: "en",
    loglevel: "warn",
  });
})();
