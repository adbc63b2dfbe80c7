-- The partner and network of each posting made before 0006, from its
-- receivable and payable entries.
UPDATE ledger_postings SET
	partner_id = COALESCE((SELECT substr(e.account, 20) FROM ledger_entries e
		WHERE e.posting_id = ledger_postings.posting_id AND e.account LIKE 'partner_receivable:%' ORDER BY e.seq LIMIT 1), ''),
	network_id = COALESCE((SELECT substr(e.account, 18) FROM ledger_entries e
		WHERE e.posting_id = ledger_postings.posting_id AND e.account LIKE 'merchant_payable:%' ORDER BY e.seq LIMIT 1), '')
WHERE partner_id = '';
-- The network statements of the cycles closed before 0006.
INSERT INTO settlement_network_statements (statement_id, cycle_id, network_id, currency, net_minor, postings, cutoff)
	SELECT m.cycle_id || '/network:' || substr(e.account, 18) || '/' || e.currency, m.cycle_id, substr(e.account, 18), e.currency,
		CAST(SUM(CASE WHEN e.side = 'C' THEN e.minor_units ELSE -e.minor_units END) AS INT8),
		CAST(COUNT(DISTINCT m.posting_id) AS INT8), MIN(c.cutoff)
	FROM settlement_cycle_postings m JOIN ledger_entries e ON e.posting_id = m.posting_id
	JOIN settlement_cycles c ON c.cycle_id = m.cycle_id
	WHERE e.account LIKE 'merchant_payable:%'
	GROUP BY m.cycle_id, e.account, e.currency;
