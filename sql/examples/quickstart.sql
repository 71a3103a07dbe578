-- After the README's quick start write, in `psql -h 127.0.0.1 -d home`:

-- Every column of the table (tags, fields, time).
SELECT * FROM energy;

-- Latest reading per meter.
SELECT DISTINCT ON (household, meter) household, meter, import_kwh, time
FROM energy
ORDER BY household, meter, time DESC;

-- Hourly average power per household.
SELECT date_bin(INTERVAL '1 hour', time) AS hour, household, avg(power_w) AS avg_power_w
FROM energy
GROUP BY 1, 2
ORDER BY 1, 2;

-- What the server holds.
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'public'
ORDER BY table_name, ordinal_position;
