// An aisle screen: the zone's slides one after another (products, promotions, coupons with a
// QR drawn by the server), and a "call a guide" button. It keeps rotating its last content
// while the daemon is away; it identifies nobody and sends nothing but the button press.
import { api, errorText } from "../js/api.js";
import { h, replace, yuan } from "../js/dom.js";
import { onLangChange, t } from "../js/i18n.js";
import { connectLive } from "../js/live.js";
import { initShopper, linkState, pageData } from "../js/shopper.js";

const data = pageData();
const zone = data.zone;
const $ = (id) => document.getElementById(id);
let content = data.content || { slides: [], rotate_s: 8, call: null };
let index = 0;
let timer = null;

function discountText(percentOff) {
  // 10% off is 9折, 15% off is 8.5折: worked in integers, shown in the shopper's language.
  const left = 100 - percentOff;
  const zhe = left % 10 === 0 ? String(left / 10) : `${Math.floor(left / 10)}.${left % 10}`;
  return t("screen.promo.percent", { zhe, percent: percentOff });
}

function ruleText(slide) {
  if (slide.type === "threshold" || (slide.kind === "coupon" && slide.threshold_fen && slide.off_fen)) {
    return t("screen.promo.threshold", { threshold: yuan(slide.threshold_fen), off: yuan(slide.off_fen) });
  }
  if (slide.type === "cash_off" && slide.off_fen) return t("screen.coupon.off", { off: yuan(slide.off_fen) });
  if (slide.type === "buy_n_get_m") return t("screen.promo.bngm", { n: slide.buy_n, m: slide.get_m });
  if (slide.percent_off) return discountText(slide.percent_off);
  return "";
}

const SLIDES = {
  product(slide) {
    const english = document.body.dataset.lang === "en" && slide.name_en;
    const unit = slide.per_kg ? "/kg" : "";
    return h("div", { class: "slide product" },
      h("span", { class: "kind" }, t("screen.kind.product")),
      h("div", { class: "name" }, english ? slide.name_en : slide.name),
      english ? h("div", { class: "sub" }, slide.name) : null,
      h("div", { class: "price" }, `${yuan(slide.price_fen)}${unit}`),
      slide.member_price_fen !== null && slide.member_price_fen !== undefined
        ? h("div", { class: "member" }, t("screen.member_price", { price: `${yuan(slide.member_price_fen)}${unit}` }))
        : null);
  },
  promotion(slide) {
    const scope = [...slide.products, ...slide.categories];
    return h("div", { class: "slide promotion" },
      h("span", { class: "kind" }, t("screen.kind.promotion")),
      h("div", { class: "name" }, slide.label),
      h("div", { class: "detail" }, ruleText(slide)),
      scope.length ? h("div", { class: "scope" }, t("screen.promo.scope", { items: scope.join(" · ") }))
        : h("div", { class: "scope" }, t("screen.promo.everything")),
      slide.members_only ? h("div", { class: "member" }, t("screen.members_only")) : null);
  },
  coupon(slide) {
    return h("div", { class: "slide coupon" },
      h("div", { class: "text" },
        h("span", { class: "kind" }, t("screen.kind.coupon")),
        h("div", { class: "name" }, slide.label),
        h("div", { class: "detail" }, ruleText(slide)),
        h("div", { class: "claim" }, t("screen.coupon.claim")),
        h("div", { class: "code" }, slide.code)),
      h("div", { class: "qr" }, h("img", { src: slide.qr, alt: t("screen.coupon.qr_alt"),
        "data-claim": slide.claim_url })));
  },
};

function show() {
  const slides = content.slides || [];
  const stage = $("stage");
  if (!slides.length) {
    replace(stage, h("p", { class: "empty" }, t("screen.empty")));
    document.body.dataset.slideKind = "";
    return;
  }
  index %= slides.length;
  const slide = slides[index];
  replace(stage, SLIDES[slide.kind]?.(slide) || null,
    h("div", { class: "dots" }, slides.map((_, i) => h("span", { class: i === index ? "on" : "" }))));
  document.body.dataset.slideKind = slide.kind;
  document.body.dataset.slideIndex = String(index);
}

function rotate() {
  clearInterval(timer);
  timer = setInterval(() => { index += 1; show(); }, Math.max(500, (content.rotate_s || 8) * 1000));
}

function showCall() {
  const call = content.call;
  const button = $("call-guide");
  const line = $("call-state");
  if (!call) {
    button.disabled = false;
    line.textContent = "";
    document.body.dataset.call = "none";
  } else if (!call.acked_at) {
    button.disabled = true;
    line.textContent = t("screen.call.waiting");
    document.body.dataset.call = "waiting";
  } else {
    button.disabled = true;
    line.textContent = t("screen.call.coming");
    document.body.dataset.call = "answered";
  }
}

function update(next) {
  const changed = next.version !== content.version || next.rotate_s !== content.rotate_s;
  content = next;
  document.body.dataset.version = next.version || "";
  if (changed) { show(); rotate(); }
  showCall();
}

$("call-guide").addEventListener("click", async () => {
  $("call-guide").disabled = true;
  try {
    const answer = await api("POST", `/api/screens/${encodeURIComponent(zone)}/call`, {});
    content = { ...content, call: answer.call };
    showCall();
  } catch (err) {
    $("call-state").textContent = errorText(err);
    $("call-guide").disabled = false;
  }
});

initShopper({ timeZone: data.store?.timezone, idleMs: 60000 });
onLangChange(() => { $("call-guide").textContent = t("screen.call"); show(); showCall(); });
document.body.dataset.version = content.version || "";
show();
rotate();
showCall();
connectLive(`/ws/screens/${encodeURIComponent(zone)}`, update, { onState: linkState });
document.body.dataset.ready = "yes";
