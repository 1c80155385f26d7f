// Apache ECharts, only the parts the console draws (bar and line charts), rendered to SVG.
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, MarkLineComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, MarkLineComponent, SVGRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

export function Chart({ option, label, testId }: { option: ChartOption; label: string; testId?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current, undefined, { renderer: "svg" });
    chart.setOption({ animation: false, tooltip: { trigger: "axis" }, grid: { left: 50, right: 16, top: 36, bottom: 40 }, ...option });
    const resize = () => chart.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      chart.dispose();
    };
  }, [option]);
  return <div className="chart" ref={ref} role="img" aria-label={label} data-testid={testId} />;
}

/** Bars per category, one series per named value list. */
export function bars(categories: string[], series: Record<string, (number | null)[]>, unit = ""): ChartOption {
  return {
    legend: { top: 0 },
    xAxis: { type: "category", data: categories, axisLabel: { interval: 0, overflow: "truncate", width: 90 } },
    yAxis: { type: "value", name: unit },
    series: Object.entries(series).map(([name, data]) => ({ name, type: "bar", data })),
  };
}

/** Counts of values per bucket of `width` (a histogram). */
export function histogram(values: number[], width: number): { labels: string[]; counts: number[] } {
  if (values.length === 0) return { labels: [], counts: [] };
  const max = Math.max(...values);
  const n = Math.max(1, Math.floor(max / width) + 1);
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor(v / width))] += 1;
  return { labels: counts.map((_, i) => `${i * width}-${(i + 1) * width}`), counts };
}
