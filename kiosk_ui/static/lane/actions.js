// What each key of the cashier lane does. Actions a supervisor approves ask for the PIN in a
// dialog and send it with that one request: the next action asks again.
import { ask } from "../js/dialog.js";
import { yuan } from "../js/dom.js";
import { t } from "../js/i18n.js";
import { chooseRefund, showReport } from "./dialogs.js";
import { fenFromYuan, yuanText } from "./money.js";

const PIN_FIELD = { name: "pin", type: "password", inputmode: "numeric", pattern: "[0-9]{4,8}",
  maxlength: 8 };

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function makeActions(page) {
  const { call, say } = page;

  async function pin(what) {
    const answer = await ask({ title: t("lane.approve.title"), message: what,
      fields: [{ ...PIN_FIELD, label: t("lane.approve.pin") }], confirm: t("lane.approve.ok") });
    return answer ? answer.pin : null;
  }

  function needLine() {
    const line = page.selectedLine();
    if (!line) say(t("lane.no_line"), { error: true });
    return line;
  }

  async function amount(title, label, typed, { optional = false, value = "" } = {}) {
    let text = typed;
    if (!text) {
      const answer = await ask({ title, fields: [{ name: "amount", label, inputmode: "decimal",
        pattern: "\\d{1,9}(\\.\\d{0,2})?", required: !optional, value }] });
      if (!answer) return undefined;
      text = answer.amount;
      if (optional && !text) return null;
    }
    const fen = fenFromYuan(text);
    if (fen === null) { say(t("lane.bad_amount", { text }), { error: true }); return undefined; }
    return fen;
  }

  return {
    fail: page.fail,

    async cash() {
      const typed = page.takeBuffer();
      if (!typed) { say(t("lane.cash_hint")); return; }
      const tendered = fenFromYuan(typed);
      if (!tendered) { say(t("lane.bad_amount", { text: typed }), { error: true }); return; }
      const sale = await call("POST", "/cash", { tendered_fen: tendered });
      page.showChange(sale);
      if (sale.drawer && !sale.drawer.ok) say(t("lane.drawer_failed", { message: sale.drawer.message }), { error: true });
    },

    async quantity() {
      const line = needLine();
      if (!line) return;
      const typed = page.takeBuffer();
      let qty = typed ? Number(typed) : null;
      if (!typed) {
        const answer = await ask({ title: t("lane.qty.title", { name: line.name }),
          fields: [{ name: "qty", label: t("lane.qty.label"), inputmode: "numeric", pattern: "[0-9]{1,3}" }] });
        if (!answer) return;
        qty = Number(answer.qty);
      }
      if (!Number.isInteger(qty) || qty < 1 || qty > 999) {
        say(t("lane.bad_qty"), { error: true });
        return;
      }
      const code = await pin(t("lane.qty.approve", { name: line.name, from: line.qty, to: qty }));
      if (code === null) return;
      await call("POST", `/lines/${encodeURIComponent(line.line_id)}/quantity`,
        { qty, supervisor_pin: code });
    },

    async void_line() {
      const line = needLine();
      if (!line) return;
      const code = await pin(t("lane.void_line.approve", { name: line.name, qty: line.qty,
        amount: yuan(line.net_fen) }));
      if (code === null) return;
      await call("POST", `/lines/${encodeURIComponent(line.line_id)}/void`, { supervisor_pin: code });
    },

    async price() {
      const line = needLine();
      if (!line) return;
      const fen = await amount(t("lane.price.title", { name: line.name }), t("lane.price.label"),
        page.takeBuffer());
      if (fen === undefined || fen === null) return;
      const code = await pin(t("lane.price.approve", { name: line.name, price: yuan(fen) }));
      if (code === null) return;
      await call("POST", `/lines/${encodeURIComponent(line.line_id)}/price`,
        { price_fen: fen, supervisor_pin: code });
    },

    async void_sale() {
      if (!page.state.snapshot?.lines.length) { say(t("lane.cart_empty"), { error: true }); return; }
      const code = await pin(t("lane.void_sale.approve", { total: yuan(page.state.snapshot.total_fen) }));
      if (code === null) return;
      await call("POST", "/void", { supervisor_pin: code });
    },

    async suspend() {
      if (page.state.snapshot?.lines.length) {
        const answer = await call("POST", "/suspend", {});
        say(t("lane.suspended", { id: answer.suspended_id }));
        return;
      }
      const { suspended } = await call("GET", "/suspended");
      if (!suspended.length) { say(t("lane.none_suspended")); return; }
      const answer = await ask({ title: t("lane.resume.title"), fields: [{ name: "id",
        label: t("lane.resume.label"), value: suspended[0].id,
        options: suspended.map((s) => [s.id, `${s.id} · ${yuan(s.total_fen)}`]) }] });
      if (!answer) return;
      await call("POST", "/resume", { suspended_id: answer.id });
    },

    async member() {
      const answer = await ask({ title: t("lane.member.title"), fields: [{ name: "code",
        label: t("lane.member.label"), maxlength: 64 }] });
      if (!answer || !answer.code.trim()) return;
      await call("POST", "/keyed", { code: answer.code.trim(), kind: "member" });
    },

    async keyed() {
      const typed = page.takeBuffer();
      let code = typed;
      if (!code) {
        const answer = await ask({ title: t("lane.keyed.title"), fields: [{ name: "code",
          label: t("lane.keyed.label"), maxlength: 64 }] });
        if (!answer) return;
        code = answer.code.trim();
      }
      if (code) await call("POST", "/keyed", { code, kind: "item" });
    },

    async refund() {
      const answer = await ask({ title: t("lane.refund.find"), fields: [
        { name: "sale_lane", label: t("lane.refund.lane"), value: page.lane, maxlength: 32 },
        { name: "receipt_no", label: t("lane.refund.receipt"), inputmode: "numeric", pattern: "[0-9]{1,12}" }] });
      if (!answer) return;
      const query = new URLSearchParams({ sale_lane: answer.sale_lane.trim(), receipt_no: answer.receipt_no });
      const sale = await call("GET", `/refunds/lookup?${query}`);
      const chosen = await chooseRefund(sale);
      if (!chosen) return;
      if (!chosen.lines.length) { say(t("lane.refund.nothing"), { error: true }); return; }
      const done = await call("POST", "/refunds", { sale_lane: sale.lane, receipt_no: sale.receipt_no,
        lines: chosen.lines, refund_id: newId(), supervisor_pin: chosen.pin,
        ...(chosen.reason ? { reason: chosen.reason } : {}) });
      say(t("lane.refund.done", { no: done.refund_no, amount: yuan(done.amount_fen), points: done.points }));
      document.body.dataset.refund = String(done.refund_no);
    },

    async drawer() {
      const result = await call("POST", "/drawer", { reason: "no sale" });
      say(result.ok ? t("lane.drawer_open") : t("lane.drawer_failed", { message: result.message }),
        { error: !result.ok });
    },

    async x_report() {
      showReport(await call("POST", "/shift/x", {}));
    },

    async z_report() {
      if (page.state.snapshot?.lines.length) { say(t("lane.z.finish_sale"), { error: true }); return; }
      const shift = page.state.snapshot?.staff?.shift;
      const answer = await ask({ title: t("lane.z.title", { no: shift?.shift_no ?? "" }),
        message: t("lane.z.message"), confirm: t("lane.z.confirm"), fields: [
          { name: "counted", label: t("lane.z.counted"), inputmode: "decimal", required: false,
            pattern: "\\d{1,9}(\\.\\d{0,2})?" },
          { name: "next_float", label: t("lane.z.next_float"), inputmode: "decimal", required: false,
            pattern: "\\d{1,9}(\\.\\d{0,2})?", value: shift ? yuanText(shift.float_fen) : "" }] });
      if (!answer) return;
      const report = await call("POST", "/shift/z", {
        counted_fen: answer.counted ? fenFromYuan(answer.counted) : null,
        next_float_fen: answer.next_float ? fenFromYuan(answer.next_float) : null });
      showReport(report);
    },

    async open_shift() {
      const fen = await amount(t("lane.open_shift.title"), t("lane.open_shift.float"), "");
      if (fen === undefined || fen === null) { say(t("lane.open_shift.needed"), { error: true }); return; }
      const { shift } = await call("POST", "/shift/open", { float_fen: fen });
      say(t("lane.open_shift.done", { no: shift.shift_no, float: yuan(shift.float_fen) }));
    },

    async signout() {
      await call("POST", "/signout", {});
      page.signedOut();
    },

    async cancel_payment() {
      await call("POST", "/payment/cancel", {});
    },
  };
}
