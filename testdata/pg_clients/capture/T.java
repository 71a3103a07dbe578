import java.sql.*;
import java.io.File;
import java.util.*;

public class T {
    static final String LOG = "/tmp/pgcapture/log/pg.log";
    static void mark(String label) throws Exception {
        Thread.sleep(150);
        System.out.println("MARK\t" + label + "\t" + new File(LOG).length());
    }
    static void dump(ResultSet rs, String title) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        int n = md.getColumnCount();
        StringBuilder sb = new StringBuilder("RESULT\t" + title + "\t");
        for (int i = 1; i <= n; i++) sb.append(md.getColumnLabel(i)).append(i < n ? "|" : "");
        System.out.println(sb);
        int rows = 0;
        while (rs.next()) {
            rows++;
            if (rows > 5) continue;
            sb = new StringBuilder("ROW\t");
            for (int i = 1; i <= n; i++) sb.append(rs.getString(i)).append(i < n ? "|" : "");
            System.out.println(sb);
        }
        System.out.println("ROWS\t" + rows);
        rs.close();
    }
    public static void main(String[] a) throws Exception {
        String scenario = a[0];
        int port = Integer.parseInt(a[1]);
        String extra = a.length > 2 ? a[2] : "";
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/home?user=postgres" + extra;
        System.out.println("URL\t" + url);
        mark("DriverManager.getConnection(\"" + url.replace("\"", "") + "\")");
        Connection c = DriverManager.getConnection(url);
        DatabaseMetaData md = c.getMetaData();
        System.out.println("DRIVER\t" + md.getDriverName() + " " + md.getDriverVersion());
        System.out.println("DB\t" + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
        mark("stmt.executeQuery(\"SELECT name, setting FROM pg_settings WHERE source='client'\")");
        try (Statement s = c.createStatement()) {
            dump(s.executeQuery("SELECT name, setting FROM pg_settings WHERE source='client'"), "client settings");
        }
        if (scenario.equals("metadata")) {
            mark("DatabaseMetaData.getTables(null, \"public\", \"%\", new String[]{\"TABLE\"})");
            dump(md.getTables(null, "public", "%", new String[]{"TABLE"}), "getTables");
            mark("DatabaseMetaData.getColumns(null, \"public\", \"energy\", \"%\")");
            dump(md.getColumns(null, "public", "energy", "%"), "getColumns");
            mark("DatabaseMetaData.getSchemas()");
            dump(md.getSchemas(), "getSchemas");
            mark("DatabaseMetaData.getCatalogs()");
            dump(md.getCatalogs(), "getCatalogs");
            mark("DatabaseMetaData.getPrimaryKeys(null, \"public\", \"energy\")");
            dump(md.getPrimaryKeys(null, "public", "energy"), "getPrimaryKeys");
            mark("DatabaseMetaData.getTypeInfo()");
            dump(md.getTypeInfo(), "getTypeInfo");
            mark("DatabaseMetaData.getIndexInfo(null, \"public\", \"energy\", false, true)");
            dump(md.getIndexInfo(null, "public", "energy", false, true), "getIndexInfo");
            mark("DatabaseMetaData.getImportedKeys(null, \"public\", \"energy\")");
            dump(md.getImportedKeys(null, "public", "energy"), "getImportedKeys");
            mark("DatabaseMetaData.getTableTypes()");
            dump(md.getTableTypes(), "getTableTypes");
            mark("DatabaseMetaData.getTables(null, null, \"%\", null)");
            dump(md.getTables(null, null, "%", null), "getTables all");
        } else if (scenario.equals("prepared")) {
            mark("PreparedStatement(\"SELECT ... WHERE time >= ? AND household = ? AND power_w > ?\") executed 6x (setTimestamp, setString, setDouble)");
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= ? AND household = ? AND power_w > ? ORDER BY time")) {
                for (int i = 0; i < 6; i++) {
                    ps.setTimestamp(1, Timestamp.valueOf("2024-01-01 00:00:00"));
                    ps.setString(2, "h1");
                    ps.setDouble(3, 1.0);
                    dump(ps.executeQuery(), "prepared #" + (i + 1));
                }
            }
            mark("PreparedStatement INSERT (setString, setString, setDouble, setDouble, setTimestamp) executeUpdate, then DELETE");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO energy (household, meter, import_kwh, power_w, time) VALUES (?, ?, ?, ?, ?)")) {
                ps.setString(1, "hx"); ps.setString(2, "mx"); ps.setDouble(3, 0.5); ps.setDouble(4, 100.0);
                ps.setTimestamp(5, Timestamp.valueOf("2024-02-01 10:00:00.5"));
                System.out.println("UPDATED\t" + ps.executeUpdate());
            }
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM energy WHERE household = ?")) {
                ps.setString(1, "hx");
                System.out.println("UPDATED\t" + ps.executeUpdate());
            }
            mark("setAutoCommit(false); Statement.setFetchSize(2); executeQuery(\"SELECT * FROM energy ORDER BY time\"); commit()");
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(2);
                dump(s.executeQuery("SELECT * FROM energy ORDER BY time"), "fetchsize");
            }
            c.commit();
            mark("PreparedStatement with setFetchSize(2) and a parameter (autocommit off); commit()");
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM energy WHERE import_kwh > ? ORDER BY time")) {
                ps.setFetchSize(2);
                ps.setDouble(1, 0.0);
                dump(ps.executeQuery(), "fetchsize prepared");
            }
            c.commit();
            c.setAutoCommit(true);
        }
        mark("Connection.close()");
        c.close();
        mark("end");
    }
}
