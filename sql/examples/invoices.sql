-- The monthly energy invoices of ../../README.md ("Scheduled SQL and invoices").
-- Run it once in database `home`, where smart meters write `energy` (tags household, meter;
-- field import_kwh, a cumulative counter):
--
--   psql -h 127.0.0.1 -d home -f sql/examples/invoices.sql
--
-- It creates the tables `households`, `tariffs` and `invoices` and schedules the job
-- `monthly-invoices` at 03:00 on the 1st of each month, Berlin time. Fill `households` and
-- `tariffs` with INSERT; `SELECT cron.run('monthly-invoices', TIMESTAMPTZ '2026-12-01 03:00
-- Europe/Berlin')` computes November's invoices now, as the scheduled run would.

CREATE TABLE IF NOT EXISTS households (
    household text PRIMARY KEY,
    tariff_zone text,
    name text
);

-- valid_to is exclusive; NULL: still valid.
CREATE TABLE IF NOT EXISTS tariffs (
    zone text,
    valid_from timestamp,
    valid_to timestamp,
    peak_eur_per_kwh double precision,
    offpeak_eur_per_kwh double precision,
    monthly_fee_eur double precision
);

-- One row per household and month: a rerun of a month replaces its rows.
CREATE TABLE IF NOT EXISTS invoices (
    household text,
    period_start timestamp,
    period_end timestamp,
    kwh_peak double precision,
    kwh_offpeak double precision,
    amount_eur double precision,
    PRIMARY KEY (household, period_start)
);

-- During a run now() is the run's scheduled time (03:00 on the 1st, Berlin), so the month
-- billed is the calendar month before it, whenever the run actually happens.
--
-- The rule, per meter: each pair of consecutive readings (t1, v1), (t2, v2) consumes v2 - v1,
-- or v2 if the counter went down (the meter restarted from 0). The consumption belongs to t2:
-- to the month holding t2 in Berlin, to peak if t2 is Monday to Friday 07:00-22:00 Berlin
-- time, priced with the household's zone's tariff valid at t2. Amount = the energy's price plus
-- the monthly fee of the tariff valid when the month starts, rounded to cents once (half away
-- from zero); NULL if some consumption has no tariff. A household without readings that month
-- pays the fee alone.
SELECT cron.schedule(
    'monthly-invoices',
    '0 3 1 * *',
    $$
    INSERT INTO invoices (household, period_start, period_end, kwh_peak, kwh_offpeak, amount_eur)
    WITH pairs AS (
        SELECT household, meter, time, import_kwh,
               lag(import_kwh) OVER (PARTITION BY household, meter ORDER BY time) AS previous_kwh
        FROM energy
        WHERE import_kwh IS NOT NULL
          AND time < date_trunc('month', now() AT TIME ZONE 'Europe/Berlin')
    ),
    consumption AS (
        SELECT household, time,
               CASE WHEN import_kwh >= previous_kwh THEN import_kwh - previous_kwh
                    ELSE import_kwh END AS kwh,
               extract(dow FROM time AT TIME ZONE 'Europe/Berlin') BETWEEN 1 AND 5
                 AND extract(hour FROM time AT TIME ZONE 'Europe/Berlin') >= 7
                 AND extract(hour FROM time AT TIME ZONE 'Europe/Berlin') < 22 AS peak
        FROM pairs
        WHERE previous_kwh IS NOT NULL
          AND time >= date_trunc('month', now() AT TIME ZONE 'Europe/Berlin') - INTERVAL '1 month'
    ),
    priced AS (
        SELECT c.household, c.kwh, c.peak,
               c.kwh * CASE WHEN c.peak THEN t.peak_eur_per_kwh
                            ELSE t.offpeak_eur_per_kwh END AS eur
        FROM consumption c
        JOIN households h ON h.household = c.household
        LEFT JOIN tariffs t
          ON t.zone = h.tariff_zone
         AND t.valid_from <= c.time
         AND (t.valid_to IS NULL OR c.time < t.valid_to)
    ),
    totals AS (
        SELECT household,
               sum(CASE WHEN peak THEN kwh ELSE 0 END) AS kwh_peak,
               sum(CASE WHEN peak THEN 0 ELSE kwh END) AS kwh_offpeak,
               sum(eur) AS energy_eur,
               count(eur) = count(*) AS all_priced
        FROM priced
        GROUP BY household
    ),
    period AS (
        SELECT date_trunc('month', now() AT TIME ZONE 'Europe/Berlin') - INTERVAL '1 month' AS period_start,
               date_trunc('month', now() AT TIME ZONE 'Europe/Berlin') AS period_end
    )
    SELECT h.household, p.period_start, p.period_end,
           coalesce(x.kwh_peak, 0.0), coalesce(x.kwh_offpeak, 0.0),
           CASE WHEN coalesce(x.all_priced, true)
                THEN round(coalesce(x.energy_eur, 0.0) + f.monthly_fee_eur, 2) END
    FROM households h
    CROSS JOIN period p
    JOIN tariffs f
      ON f.zone = h.tariff_zone
     AND f.valid_from <= p.period_start
     AND (f.valid_to IS NULL OR p.period_start < f.valid_to)
    LEFT JOIN totals x ON x.household = h.household;

    COPY (SELECT * FROM invoices
          WHERE period_start = date_trunc('month', now() AT TIME ZONE 'Europe/Berlin') - INTERVAL '1 month'
          ORDER BY household)
      TO 'exports/invoices/{to_char(now() AT TIME ZONE ''Europe/Berlin'' - INTERVAL ''1 month'', ''%Y-%m'')}.csv'
      (FORMAT csv, HEADER);

    COPY (SELECT * FROM invoices
          WHERE period_start = date_trunc('month', now() AT TIME ZONE 'Europe/Berlin') - INTERVAL '1 month'
          ORDER BY household)
      TO 'exports/invoices/{to_char(now() AT TIME ZONE ''Europe/Berlin'' - INTERVAL ''1 month'', ''%Y-%m'')}.parquet'
      (FORMAT parquet);
    $$,
    timezone => 'Europe/Berlin'
);
