//! chat-server: the bundled real-time chat service (axum + Socket.IO + Redis).
