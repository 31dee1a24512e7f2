// Self-checkout: lanes waiting for an attendant, what was cleared by whom, learned item
// weights, receipts not on paper (reprint, audited) and, for IT admins, attendant badges.
import { act, api, errorText } from "../../js/api.js";
import { field, h, replace, table, yuan } from "../../js/dom.js";
import { formatTime, onLangChange, t } from "../../js/i18n.js";

function reasonText(item) {
  return t(`checkout.reason.${item.reason}`);
}

export async function mount(root, { data }) {
  const status = h("p", { class: "status", role: "status", id: "checkout-status" });
  const holder = h("div");
  const admin = data?.user?.role === "it_admin";
  let view = null;
  let badges = [];
  const badgeName = h("input", { name: "name", maxlength: 32, id: "badge-name",
    autocomplete: "off", required: true });
  const badgeId = h("input", { name: "badge_id", maxlength: 64, id: "badge-id",
    autocomplete: "off" });
  const issued = h("p", { class: "issued", id: "badge-issued" });
  const badgeForm = h("form", { class: "card", id: "badge-form" });

  async function load() {
    try {
      view = await api("GET", "/console/api/checkout");
      if (admin) badges = (await api("GET", "/console/api/badges")).badges;
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  async function reprint(saleId) {
    await act(status, async () => {
      const answer = await api("POST", "/console/api/receipts/reprint", { sale_id: saleId });
      return answer.printed ? t("checkout.reprinted")
        : t("checkout.not_printed", { message: answer.message });
    }, load);
  }

  async function resolve(saleId, printed) {
    await act(status, async () => {
      const answer = await api("POST", "/console/api/receipts/resolve",
        { sale_id: saleId, printed });
      return printed ? t("checkout.resolved_printed")
        : answer.printed ? t("checkout.reprinted")
          : t("checkout.not_printed", { message: answer.message });
    }, load);
  }

  function receiptActions(r) {
    if (r.state !== "in_doubt") {
      return h("button", { type: "button", onclick: () => reprint(r.sale_id) },
        t("checkout.reprint"));
    }
    // Only a person at the printer knows whether the paper came out.
    return [h("button", { type: "button", class: "resolve-printed",
      onclick: () => resolve(r.sale_id, true) }, t("checkout.resolve_printed")),
    " ",
    h("button", { type: "button", class: "resolve-again",
      onclick: () => resolve(r.sale_id, false) }, t("checkout.resolve_again"))];
  }

  badgeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: badgeName.value };
    if (badgeId.value) body.badge_id = badgeId.value;
    try {
      const answer = await api("POST", "/console/api/badges", body);
      issued.textContent = t("checkout.badge_issued", { name: answer.name, badge: answer.badge });
      badgeName.value = ""; badgeId.value = "";
    } catch (err) {
      status.textContent = errorText(err);
    }
    await load();
  });

  async function revoke(name) {
    await act(status, async () => {
      await api("POST", "/console/api/badges/revoke", { name });
      return t("checkout.revoked", { name });
    }, load);
  }

  function waiting() {
    const lanes = view.attendant.lanes;
    if (!lanes.length) return h("p", { class: "muted", id: "none-waiting" }, t("checkout.none"));
    return table([t("checkout.lane"), t("checkout.reason"), t("checkout.since")],
      lanes.map((lane) => h("tr", { "data-lane": lane.lane },
        h("td", {}, lane.name), h("td", {}, reasonText(lane.interventions[0])),
        h("td", {}, formatTime(lane.interventions[0].raised_at)))), { id: "waiting" });
  }

  function recent() {
    return table([t("checkout.lane"), t("checkout.reason"), t("checkout.since"),
      t("checkout.cleared_by"), t("checkout.cleared_at")],
    view.recent.map((r) => h("tr", { "data-id": r.id },
      h("td", {}, r.lane), h("td", {}, reasonText(r)), h("td", {}, formatTime(r.raised_at)),
      h("td", {}, r.cleared_by ? `${r.cleared_by} (${t(`checkout.method.${r.method}`)})` : "—"),
      h("td", {}, formatTime(r.cleared_at)))), { id: "recent" });
  }

  function learned() {
    if (!view.learned.length) return h("p", { class: "muted" }, t("checkout.no_learned"));
    return table([t("checkout.product"), t("checkout.grams"), t("checkout.samples"),
      t("checkout.in_use")],
    view.learned.map((w) => h("tr", { "data-product": w.product_id },
      h("td", {}, `${w.name} (${w.product_id})`),
      h("td", {}, `${w.grams} ± ${w.tolerance} g`),
      h("td", {}, t("checkout.sample_count", { samples: w.samples,
        attendant: w.attendant_samples })),
      h("td", {}, w.usable ? t("checkout.yes") : t("checkout.no")))), { id: "learned" });
  }

  function receipts() {
    if (!view.receipts.length) return h("p", { class: "muted" }, t("checkout.all_printed"));
    return table([t("checkout.lane"), t("checkout.receipt"), t("checkout.state"), ""],
      view.receipts.map((r) => h("tr", { "data-sale": r.sale_id },
        h("td", {}, r.lane), h("td", {}, `No. ${r.receipt_no} · ${yuan(r.total_fen)}`),
        h("td", {}, `${t(`checkout.print.${r.state}`)} ${r.message}`),
        h("td", {}, receiptActions(r)))), { id: "receipts" });
  }

  function badgeSection() {
    if (!admin) return null;
    replace(badgeForm, field(t("checkout.badge_user"), badgeName),
      field(t("checkout.badge_id"), badgeId),
      h("button", { type: "submit" }, t("checkout.badge_add")), issued);
    const rows = badges.map((b) => h("tr", { "data-user": b.name },
      h("td", {}, b.name), h("td", {}, `…${b.hint}`), h("td", {}, formatTime(b.created_at)),
      h("td", {}, b.revoked_at ? t("checkout.revoked_at", { time: formatTime(b.revoked_at) })
        : h("button", { type: "button", class: "danger", onclick: () => revoke(b.name) },
          t("checkout.revoke")))));
    return [h("h2", {}, t("checkout.badges")), badgeForm,
      table([t("checkout.badge_user"), t("checkout.badge_hint"), t("checkout.since"), ""],
        rows, { id: "badges" })];
  }

  function render() {
    if (!view) return replace(holder, h("p", {}, t("common.loading")));
    return replace(holder, h("h2", {}, t("checkout.waiting")), waiting(),
      h("h2", {}, t("checkout.receipts")), receipts(),
      h("h2", {}, t("checkout.learned")), learned(),
      h("h2", {}, t("checkout.recent")), recent(), badgeSection());
  }

  replace(root, status, holder);
  onLangChange(render);
  await load();
}
