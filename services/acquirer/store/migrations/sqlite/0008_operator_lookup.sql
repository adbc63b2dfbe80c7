-- Operators find a payment by any id it has (see the postgres set).
CREATE INDEX acq_payments_partner_payment_id ON acq_payments (partner_payment_id);
CREATE INDEX acq_payments_merchant_order_id ON acq_payments (merchant_order_id) WHERE merchant_order_id <> '';
CREATE INDEX acq_payments_network_reference ON acq_payments (network_reference) WHERE network_reference <> '';
CREATE INDEX acq_payments_quote_id ON acq_payments (quote_id) WHERE quote_id <> '';
CREATE INDEX acq_refunds_request_id ON acq_refunds (request_id);
CREATE INDEX acq_refunds_partner_reference ON acq_refunds (partner_reference) WHERE partner_reference <> '';
-- A payment's timeline reads its events.
CREATE INDEX acq_events_payment ON acq_events (payment_id) WHERE payment_id <> '';
