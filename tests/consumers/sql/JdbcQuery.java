// Runs one prepared statement through the ClickHouse JDBC driver, as DBeaver would, and prints
// the rows tab-separated. Arguments: JDBC URL, password, SQL with one `?`, its string value.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Properties;

public class JdbcQuery {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        properties.setProperty("user", "default");
        properties.setProperty("password", args[1]);
        try (Connection connection = DriverManager.getConnection(args[0], properties);
             PreparedStatement statement = connection.prepareStatement(args[2])) {
            statement.setString(1, args[3]);
            try (ResultSet rows = statement.executeQuery()) {
                int columns = rows.getMetaData().getColumnCount();
                while (rows.next()) {
                    StringBuilder line = new StringBuilder();
                    for (int column = 1; column <= columns; column++) {
                        line.append(column > 1 ? "\t" : "").append(rows.getString(column));
                    }
                    System.out.println(line);
                }
            }
        }
    }
}
