package io.concord.sdk;

/** Level of a log line sent with {@link Context#log(LogLevel, String)}. */
public enum LogLevel {
    DEBUG, INFO, WARNING, ERROR
}
