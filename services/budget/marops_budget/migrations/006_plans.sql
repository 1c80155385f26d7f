-- Planning horizons: annual plans that quarterly budget lines roll up into, the monthly
-- phasing of a line, and what budget last announced of each line's run-out forecast.

-- One plan per fiscal year and team, either for the whole team (channel null) or per
-- channel; never both for one team and year (the use cases refuse mixing, under the
-- plan-scope lock). A line rolls up into the plan of its year, team and channel, or of its
-- year and team when that plan is for the whole team.
CREATE TABLE plans (
    id          text PRIMARY KEY,
    name        text,
    fiscal_year integer NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2200),
    team        text NOT NULL,
    channel     text,
    amount      numeric NOT NULL CHECK (amount >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX plans_scope ON plans (fiscal_year, team, coalesce(channel, ''));

-- Every change of a plan's amount, like line_changes for lines.
CREATE TABLE plan_changes (
    id          bigserial PRIMARY KEY,
    plan_id     text NOT NULL REFERENCES plans (id),
    kind        text NOT NULL CHECK (kind IN ('created', 'adjusted')),
    delta       numeric NOT NULL,
    amount_after numeric NOT NULL,
    reason      text,
    actor       text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plan_changes_by_plan ON plan_changes (plan_id, id);

CREATE VIEW line_plans AS
SELECT l.id AS line_id, p.id AS plan_id
FROM budget_lines l
JOIN plans p ON p.fiscal_year = l.fiscal_year AND p.team = l.team
            AND (p.channel IS NULL OR p.channel = l.channel);

-- When a line's money is meant to be spent: an amount per calendar month of its quarter.
CREATE TABLE line_phasing (
    budget_line_id text NOT NULL REFERENCES budget_lines (id),
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    amount         numeric NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (budget_line_id, month)
);

-- The run-out forecast budget last announced per line (BudgetLineRunOutForecast), so it
-- announces changes only.
CREATE TABLE run_out_announcements (
    budget_line_id text PRIMARY KEY REFERENCES budget_lines (id),
    revision       integer NOT NULL CHECK (revision >= 1),
    as_of          date NOT NULL,
    run_out_on     date,
    within_horizon boolean NOT NULL,
    announced_at   timestamptz NOT NULL DEFAULT now()
);
