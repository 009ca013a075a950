-- Replicas relay to their browsers the ledger events other replicas appended: each asks for
-- the events of the last seconds, by time, once a second.
CREATE INDEX request_events_at ON request_events (at);
