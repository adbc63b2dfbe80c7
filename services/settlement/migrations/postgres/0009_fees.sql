-- Settlement fees: each statement records its gross (payments less
-- cancels) and the fee its agreement charged, posted in the same close as
-- the posting "fee:<statement id>" (payment id: the cycle's id).
ALTER TABLE settlement_statements ADD COLUMN gross_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE settlement_statements ADD COLUMN fee_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE settlement_network_statements ADD COLUMN gross_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE settlement_network_statements ADD COLUMN fee_minor INT8 NOT NULL DEFAULT 0;
