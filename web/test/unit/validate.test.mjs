// The browser's ticket rules (public/js/validate.js) agree with the API's
// (lambdas/tickets/src/model.rs): the same bounds, counting and messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { validateTicket, CATEGORIES, DESCRIPTION_MIN_CHARS, DESCRIPTION_MAX_CHARS } from "../../public/js/validate.js";

const model = readFileSync(new URL("../../../lambdas/tickets/src/model.rs", import.meta.url), "utf8");

test("the bounds and categories are the Lambda's", () => {
  assert.match(model, new RegExp(`DESCRIPTION_MIN_CHARS: usize = ${DESCRIPTION_MIN_CHARS};`));
  assert.match(model, new RegExp(`DESCRIPTION_MAX_CHARS: usize = ${DESCRIPTION_MAX_CHARS};`));
  const list = model.match(/pub const CATEGORIES: &\[&str\] = &\[([^\]]*)\]/)[1];
  assert.deepEqual([...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]), CATEGORIES);
});

test("descriptions are counted in characters after trimming, as the API does", () => {
  assert.equal(validateTicket({ description: "  123456789  ", priority: "high" }).ok, false);
  assert.deepEqual(validateTicket({ description: " my bike is gone ", priority: "high" }), {
    ok: true,
    ticket: { description: "my bike is gone", priority: "high" },
  });
  assert.equal(validateTicket({ description: "é".repeat(2000), priority: "low" }).ok, true);
  assert.equal(validateTicket({ description: "🚲".repeat(10), priority: "low" }).ok, true, "astral characters count once");
  const long = validateTicket({ description: "é".repeat(2001), priority: "low" });
  assert.deepEqual(long, { ok: false, field: "description", message: "description must be 10 to 2000 characters, got 2001" });
  // U+FEFF is not white space to Rust's trim.
  assert.equal(validateTicket({ description: "\uFEFF123456789", priority: "low" }).ok, true);
});

test("priority and category must come from the lists", () => {
  assert.equal(validateTicket({ description: "a broken seat", priority: "urgent" }).field, "priority");
  const bad = validateTicket({ description: "a broken seat", priority: "low", category: "unicorns" });
  assert.deepEqual(bad, { ok: false, field: "category", message: `category must be one of ${CATEGORIES.join(", ")}` });
  assert.deepEqual(validateTicket({ description: "a broken seat", priority: "low", category: "billing" }).ticket, {
    description: "a broken seat",
    priority: "low",
    category: "billing",
  });
  assert.equal("category" in validateTicket({ description: "a broken seat", priority: "low", category: "" }).ticket, false);
});

test("the message for a bad description is the API's, word for word", () => {
  assert.match(model, /"description must be \{DESCRIPTION_MIN_CHARS\} to \{DESCRIPTION_MAX_CHARS\} characters, got \{chars\}"/);
  assert.match(model, /format!\("category must be one of \{\}", CATEGORIES.join\(", "\)\)/);
});
