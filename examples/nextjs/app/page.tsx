// A server component page can render <CameraAttention /> directly: the package marks it "use client".
import { CameraAttention } from "@gazepipe/client/react";

// The gazepipe service's WebSocket; it accepts pages from localhost on any port.
const GAZEPIPE_URL = process.env.NEXT_PUBLIC_GAZEPIPE_URL ?? "ws://127.0.0.1:8001/ws/gaze";

export default function Home() {
  return (
    <main style={{ maxWidth: 680, margin: "0 auto", padding: 20 }}>
      <h1 style={{ fontSize: 22 }}>Attention check</h1>
      <CameraAttention url={GAZEPIPE_URL} fps={10} />
    </main>
  );
}
