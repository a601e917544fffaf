package dev.kvq.cache;

import java.util.ArrayList;
import java.util.List;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;

/** Collects what one logger says at WARN or above while open (log4j-core is on the test class path). */
public final class LogCapture implements AutoCloseable {
    private final Logger logger;
    private final Appender appender;

    private static final class Appender extends AbstractAppender {
        final List<String> warnings = new ArrayList<>();

        Appender() {
            super("kvq-capture", null, null, true, Property.EMPTY_ARRAY);
        }

        @Override
        public synchronized void append(LogEvent event) {
            if (event.getLevel().isMoreSpecificThan(Level.WARN)) {
                warnings.add(event.getMessage().getFormattedMessage());
            }
        }
    }

    private LogCapture(Logger logger) {
        this.logger = logger;
        this.appender = new Appender();
        appender.start();
        logger.addAppender(appender);
    }

    /** Starts capturing the logger named after {@code type}. */
    public static LogCapture of(Class<?> type) {
        return new LogCapture((Logger) LogManager.getLogger(type));
    }

    /** The WARN (and worse) messages so far. */
    public List<String> warnings() {
        synchronized (appender) {
            return List.copyOf(appender.warnings);
        }
    }

    @Override
    public void close() {
        logger.removeAppender(appender);
        appender.stop();
    }
}
