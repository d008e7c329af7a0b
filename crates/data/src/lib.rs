//! cosmotok-data: media I/O (images, videos, frame folders).
