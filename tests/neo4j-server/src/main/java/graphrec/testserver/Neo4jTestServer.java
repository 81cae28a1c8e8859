package graphrec.testserver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs Neo4j Community in this process with the settings of {@code HOME/neo4j.conf} (the Bolt connector on a
 * loopback port, authentication on), over a store under HOME that survives a restart.
 *
 * <p>The password of user {@code neo4j} comes from the environment variable {@code NEO4J_TEST_PASSWORD}, so it
 * never appears in a process listing. The line {@code NEO4J_READY} on standard output says the server accepts
 * Bolt connections; SIGTERM shuts the databases down cleanly.
 */
public final class Neo4jTestServer {
    private Neo4jTestServer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Neo4jTestServer HOME (settings in HOME/neo4j.conf)");
            System.exit(2);
        }
        String password = System.getenv("NEO4J_TEST_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("NEO4J_TEST_PASSWORD must hold a password of at least 8 characters");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path conf = home.resolve("neo4j.conf");
        if (!Files.isRegularFile(conf)) {
            System.err.println("no settings file at " + conf);
            System.exit(2);
        }

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(conf)
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }));
        try {
            setPassword(service, password);
        } catch (RuntimeException error) {
            error.printStackTrace();
            System.exit(1);  // runs the shutdown hook: the store is closed cleanly
        }
        System.out.println("NEO4J_READY");
        System.out.flush();
        stopped.await();
    }

    /** Community edition keeps users in the system database; a restart over the same store finds it set. */
    private static void setPassword(DatabaseManagementService service, String password) {
        try {
            service.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException error) {
            if (!String.valueOf(rootCause(error).getMessage()).contains("Old password and new password cannot be the same")) {
                throw error;
            }
        }
    }

    private static Throwable rootCause(Throwable error) {
        Throwable cause = error;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        return cause;
    }
}
