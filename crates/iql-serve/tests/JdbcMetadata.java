// iql serve from pgjdbc, as DBeaver, DataGrip and Metabase drive it when they open a connection:
// DatabaseMetaData's calls, and a PreparedStatement reading a timestamp. Run by wire.rs as
// `java -cp postgresql.jar JdbcMetadata.java PORT`; prints "jdbc ok" when every check held.
import java.sql.*;
import java.util.*;

public class JdbcMetadata {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static int count(ResultSet rs) throws SQLException {
        int n = 0;
        while (rs.next()) n++;
        rs.close();
        return n;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/digitalocean?user=iql";
        try (Connection conn = DriverManager.getConnection(url)) {
            DatabaseMetaData meta = conn.getMetaData();
            check(meta.getDatabaseProductName().equals("PostgreSQL"), "product");

            Set<String> schemas = new HashSet<>();
            try (ResultSet rs = meta.getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            check(schemas.contains("compute") && schemas.contains("databases"), "getSchemas " + schemas);

            int tables = count(meta.getTables(null, null, "%", new String[] {"TABLE"}));
            check(tables == 259, "getTables gave " + tables);

            Map<String, String> columns = new LinkedHashMap<>();
            try (ResultSet rs = meta.getColumns(null, "compute", "images", "%")) {
                while (rs.next()) columns.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
            }
            check("int8".equals(columns.get("id")), "getColumns id " + columns);
            check("bool".equals(columns.get("public")), "getColumns public " + columns);
            check("timestamptz".equals(columns.get("created_at")), "getColumns created_at " + columns);

            check(count(meta.getPrimaryKeys(null, "compute", "images")) == 0, "getPrimaryKeys");
            check(count(meta.getImportedKeys(null, "compute", "images")) == 0, "getImportedKeys");
            check(count(meta.getIndexInfo(null, "compute", "images", false, true)) == 0, "getIndexInfo");
            check(count(meta.getTypeInfo()) > 10, "getTypeInfo");
            count(meta.getFunctions(null, "compute", "%"));
            check(conn.getTransactionIsolation() == Connection.TRANSACTION_READ_COMMITTED, "isolation");

            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT name, created_at FROM compute.images WHERE created_at BETWEEN ? AND ? ORDER BY created_at")) {
                ps.setString(1, "2025-02-21 00:00:00");
                ps.setString(2, "2025-02-21 23:59:59");
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "a row");
                    Timestamp t = rs.getTimestamp("created_at");
                    check(t.toInstant().toString().equals("2025-02-21T23:46:38Z"), "getTimestamp " + t.toInstant());
                    check(!rs.next(), "one row");
                }
            }

            // A computed column is described with the type of the column it takes its value from.
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT max(created_at) AS latest, count(*) AS n FROM compute.images");
                 ResultSet rs = ps.executeQuery()) {
                ResultSetMetaData md = rs.getMetaData();
                check("timestamptz".equals(md.getColumnTypeName(1)), "max(created_at) is " + md.getColumnTypeName(1));
                check("int8".equals(md.getColumnTypeName(2)), "count(*) is " + md.getColumnTypeName(2));
                check(rs.next() && rs.getTimestamp("latest") != null, "a latest timestamp");
            }

            // setFetchSize outside autocommit: pgjdbc reads the portal 7 rows at a time
            // (Execute with a row limit, PortalSuspended between), as a BI tool pages a big table.
            int total;
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM compute.images")) {
                rs.next();
                total = rs.getInt(1);
            }
            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement("SELECT id, slug FROM compute.images ORDER BY id")) {
                ps.setFetchSize(7);
                try (ResultSet rs = ps.executeQuery()) {
                    long last = Long.MIN_VALUE;
                    int n = 0;
                    while (rs.next()) {
                        long id = rs.getLong("id");
                        check(id > last, "in order at row " + n);
                        last = id;
                        n++;
                    }
                    check(n == total && n > 7, "fetched " + n + " of " + total);
                }
            }
            conn.commit();
            conn.setAutoCommit(true);
        }
        System.out.println("jdbc ok");
    }
}
