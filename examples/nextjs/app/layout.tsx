import type { ReactNode } from "react";

export const metadata = { title: "gazepipe + Next.js" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ margin: 0, fontFamily: "system-ui, sans-serif", background: "#f5f6f8" }}>{children}</body>
    </html>
  );
}
