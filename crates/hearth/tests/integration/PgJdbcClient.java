// pgjdbc (Debian's libpostgresql-jdbc-java) against a running Hearth whose database `home`
// holds `energy` (rows h1 and h2 of the integration tests).
//
// Checks what Java tools (DBeaver, Metabase, Tableau) rely on: DatabaseMetaData.getTables and
// getColumns, a PreparedStatement with typed parameters, server-prepared statements with binary
// transfer (prepareThreshold=1), a fetch size inside a transaction (a portal read in pieces),
// and errors with their SQLSTATE on a connection that stays usable. Prints what it checked;
// exits 1 at the first difference.
//
//     java -cp /usr/share/java/postgresql.jar PgJdbcClient.java 127.0.0.1 5432

import java.sql.*;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.*;

public class PgJdbcClient {
    static void check(String what, Object got, Object want) {
        if (!Objects.equals(got, want)) {
            System.out.println("FAIL " + what + ": got " + got + ", want " + want);
            System.exit(1);
        }
        System.out.println("ok   " + what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/home";
        Properties props = new Properties();
        props.setProperty("user", "analyst");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData meta = conn.getMetaData();
            check("database product", meta.getDatabaseProductName(), "PostgreSQL");
            check("major version", meta.getDatabaseMajorVersion(), 16);
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
            }
            check("getTables", tables, List.of("energy:TABLE"));
            Map<String, String> columns = new LinkedHashMap<>();
            try (ResultSet rs = meta.getColumns(null, "public", "energy", "%")) {
                while (rs.next()) {
                    columns.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME") + "/" + rs.getInt("DATA_TYPE"));
                }
            }
            check("getColumns", columns.toString(),
                "{household=text/12, meter=text/12, import_kwh=float8/8, power_w=float8/8, time=timestamptz/93}");

            // Typed parameters; prepareThreshold=1 makes every execution a named, server-prepared
            // statement with binary results for float8 and timestamptz.
            for (int threshold : new int[] {5, 1}) {
                conn.unwrap(org.postgresql.PGConnection.class).setPrepareThreshold(threshold);
                try (PreparedStatement ps = conn.prepareStatement(
                        "SELECT household, power_w, time FROM energy WHERE time >= ? AND power_w > ? AND household <> ? ORDER BY household")) {
                    for (int run = 0; run < 3; run++) {
                        ps.setObject(1, OffsetDateTime.of(2025, 11, 24, 16, 0, 30, 0, ZoneOffset.UTC));
                        ps.setDouble(2, 1.5);
                        ps.setString(3, "nobody");
                        try (ResultSet rs = ps.executeQuery()) {
                            check("prepared row (threshold " + threshold + ", run " + run + ")", rs.next(), true);
                            check("household", rs.getString(1), "h2");
                            check("power_w", rs.getDouble(2), 100.5);
                            check("time", rs.getObject(3, OffsetDateTime.class).toInstant().toString(), "2025-11-24T16:01:00Z");
                            check("one row", rs.next(), false);
                        }
                    }
                }
            }

            // A fetch size inside a transaction: the portal is read 2 rows at a time.
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                st.setFetchSize(2);
                List<Long> seen = new ArrayList<>();
                try (ResultSet rs = st.executeQuery("SELECT v FROM generate_series(1, 7) AS t(v) ORDER BY v")) {
                    while (rs.next()) seen.add(rs.getLong(1));
                }
                check("fetch size 2 over 7 rows", seen, List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L));
            }
            conn.commit();
            conn.setAutoCommit(true);

            // Errors keep their SQLSTATE, and the connection goes on.
            try (Statement st = conn.createStatement()) {
                try {
                    st.executeQuery("SELECT * FROM nope");
                    check("unknown table fails", "no error", "an error");
                } catch (SQLException e) {
                    check("unknown table SQLSTATE", e.getSQLState(), "42P01");
                }
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM energy")) {
                    rs.next();
                    check("after an error", rs.getLong(1), 2L);
                }
            }
            // INSERT through a prepared statement, then gone again.
            try (PreparedStatement ins = conn.prepareStatement(
                    "INSERT INTO energy (household, meter, power_w, time) VALUES (?, ?, ?, ?)")) {
                ins.setString(1, "hj");
                ins.setString(2, "m1");
                ins.setDouble(3, 3.25);
                ins.setObject(4, OffsetDateTime.of(2025, 11, 24, 17, 0, 0, 0, ZoneOffset.UTC));
                check("INSERT count", ins.executeUpdate(), 1);
            }
            try (PreparedStatement del = conn.prepareStatement("DELETE FROM energy WHERE household = ?")) {
                del.setString(1, "hj");
                check("DELETE count", del.executeUpdate(), 1);
            }
        }
        System.out.println("all checks passed");
    }
}
