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
        // Community edition keeps users in the system database; on a restart over the same store this sets the
        // password it already has.
        service.database("system").executeTransactionally(
                "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
        System.out.println("NEO4J_READY");
        System.out.flush();
        stopped.await();
    }
}
