-- Whether an RPC went straight to an open poll was stored but never used: the outcome of a
-- timed-out RPC follows from its status (DELIVERED -> TIMEOUT, QUEUED -> EXPIRED).
ALTER TABLE rpc DROP COLUMN sent_to_open_poll;
