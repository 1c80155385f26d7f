-- The read model's revision: a new random token whenever a transaction changed facts or
-- derived rows (the projection's batches, the derivation of missing rows, a rebuild's
-- swap). A report read in a snapshot whose token it was computed under is still exact,
-- so API processes can answer a repeated report from memory without recomputing it.
CREATE TABLE readmodel.revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    token     uuid    NOT NULL
);
INSERT INTO readmodel.revision (token) VALUES (gen_random_uuid());

-- A gate's latest name is looked up by (gate, decision time) rather than by sorting
-- every decision of the gate.
CREATE INDEX gate_decisions_gate_time ON readmodel.gate_decisions (gate_id, decided_at);
