// Amounts typed on the number pad, in yuan ("12", "12.5", "12.50"), as integer fen: no
// floating point ever touches money.
export function fenFromYuan(text) {
  const match = /^(\d{1,9})(?:\.(\d{0,2}))?$/.exec(String(text).trim());
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
}

export function yuanText(fen) {
  if (fen === null || fen === undefined) return "";
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;
}
