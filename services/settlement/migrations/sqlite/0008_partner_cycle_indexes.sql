-- A partner's open postings by time; a partner's cycles by cutoff.
CREATE INDEX ledger_postings_partner_time ON ledger_postings (partner_id, create_time);
CREATE INDEX settlement_cycles_partner_cutoff ON settlement_cycles (partner_id, cutoff);
