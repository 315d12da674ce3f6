// Lists tables and one table's columns through the ClickHouse JDBC driver's DatabaseMetaData, as
// DBeaver's navigator does. Arguments: JDBC URL, password, database, table. Prints "table\t<name>"
// per table of the database, then "column\t<name>\t<type>" per column of the table.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

public class JdbcMetadata {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        properties.setProperty("user", "default");
        properties.setProperty("password", args[1]);
        try (Connection connection = DriverManager.getConnection(args[0], properties)) {
            DatabaseMetaData metadata = connection.getMetaData();
            try (ResultSet tables = metadata.getTables(null, args[2], "%", null)) {
                while (tables.next()) {
                    System.out.println("table\t" + tables.getString("TABLE_NAME"));
                }
            }
            try (ResultSet columns = metadata.getColumns(null, args[2], args[3], "%")) {
                while (columns.next()) {
                    System.out.println("column\t" + columns.getString("COLUMN_NAME") + "\t" + columns.getString("TYPE_NAME"));
                }
            }
        }
    }
}
